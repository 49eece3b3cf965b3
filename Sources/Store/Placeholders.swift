/// `$1 … $n` → `?1 … ?n` for SQLite, outside string literals, quoted identifiers and comments
/// (a `$2` inside `'…'` is data). SQLite's `?NNN` binds by number, so `$1` used twice stays one
/// parameter, as in PostgreSQL.
func sqlitePlaceholders(_ sql: String) -> String {
    var out = [UInt8]()
    let bytes = Array(sql.utf8)
    out.reserveCapacity(bytes.count)
    var i = 0
    func copyUntil(_ end: UInt8) {   // a quoted run, doubled quotes included, copied verbatim
        out.append(bytes[i]); i += 1
        while i < bytes.count {
            let b = bytes[i]
            out.append(b); i += 1
            if b == end { return }
        }
    }
    while i < bytes.count {
        let b = bytes[i]
        switch b {
        case UInt8(ascii: "'"): copyUntil(UInt8(ascii: "'"))
        case UInt8(ascii: "\""): copyUntil(UInt8(ascii: "\""))
        case UInt8(ascii: "-") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "-"):
            while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { out.append(bytes[i]); i += 1 }
        case UInt8(ascii: "$") where i + 1 < bytes.count && bytes[i + 1] >= UInt8(ascii: "0") && bytes[i + 1] <= UInt8(ascii: "9"):
            out.append(UInt8(ascii: "?")); i += 1
        default:
            out.append(b); i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}
