// A throwaway folder of files for static-file tests.

#if canImport(Glibc)
import Glibc
#endif

struct StaticFolder: Sendable {
    let path: String

    /// `files`: relative path → contents (parent folders are made).
    static func make(_ files: [String: String]) throws -> StaticFolder {
        var template = Array("/tmp/qv-static-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw ClientError("mkdtemp failed")
        }
        for (name, text) in files {
            var parent = dir
            for part in name.split(separator: "/").dropLast() {
                parent += "/" + part
                mkdir(parent, 0o755)
            }
            let fd = open(dir + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw ClientError("cannot create \(name): errno \(errno)") }
            let bytes = Array(text.utf8)
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard n == bytes.count else { throw ClientError("short write of \(name)") }
        }
        return StaticFolder(path: dir)
    }

    func symlink(_ name: String, to target: String) {
        _ = Glibc.symlink(target, path + "/" + name)
    }
}
