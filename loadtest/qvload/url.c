/* ws:// and wss:// URL parsing. Only loopback targets are accepted: 127.0.0.0/8, ::1,
 * localhost. No name resolution is ever done. */
#include "qvload.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *msg, const char *detail) {
    snprintf(err, errlen, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
    return -1;
}

int qv_parse_url(const char *url, qv_url *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *p;
    if (strncasecmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        p = url + 6;
        out->tls = 1;
    } else {
        return fail(err, errlen, "only ws:// and wss:// URLs are supported", url);
    }
    char host[256];
    size_t hl = 0;
    int v6 = 0;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (!end || (size_t)(end - p - 1) >= sizeof host)
            return fail(err, errlen, "bad IPv6 literal", url);
        hl = (size_t)(end - p - 1);
        memcpy(host, p + 1, hl);
        host[hl] = 0;
        p = end + 1;
        v6 = 1;
    } else {
        while (p[hl] && p[hl] != ':' && p[hl] != '/' && hl < sizeof host - 1) hl++;
        memcpy(host, p, hl);
        host[hl] = 0;
        p += hl;
    }
    if (hl == 0) return fail(err, errlen, "missing host", url);
    long port = out->tls ? 443 : 80;
    if (*p == ':') {
        char *end;
        port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) return fail(err, errlen, "bad port", url);
        p = end;
    }
    if (*p && *p != '/') return fail(err, errlen, "bad URL", url);
    const char *path = *p ? p : "/";
    if (strlen(path) >= sizeof out->path) return fail(err, errlen, "path too long", NULL);
    for (const char *q = path; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) return fail(err, errlen, "bad character in path", url);
    strcpy(out->path, path);

    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return fail(err, errlen, "bad IPv6 address", host);
        if (!IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return fail(err, errlen, "refusing a non-loopback address (only ::1, 127.0.0.0/8, localhost)", host);
        out->addrlen = sizeof *a;
        snprintf(out->host_header, sizeof out->host_header, "[%s]:%ld", host, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&out->addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (strcasecmp(host, "localhost") == 0) {
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else {
            /* inet_pton accepts only the dotted quad, so "127.1" or a name never slips through. */
            if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                return fail(err, errlen, "host must be a loopback IP literal or localhost", host);
            if ((ntohl(a->sin_addr.s_addr) >> 24) != 127)
                return fail(err, errlen, "refusing a non-loopback address (only ::1, 127.0.0.0/8, localhost)", host);
        }
        out->addrlen = sizeof *a;
        snprintf(out->host_header, sizeof out->host_header, "%s:%ld", host, port);
    }
    return 0;
}
