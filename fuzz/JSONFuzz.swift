// libFuzzer target: JSONParser + JSONWriter (compiled with the JSON sources as one module).
//
// The input is the JSON text itself, whole; libFuzzer's copy is exactly its size, so ASan sees
// any read past the end.
//
// Invariants checked (any failure traps, which libFuzzer records as a crash):
//  - a refusal's offset lies within the input, and `unexpectedEnd` is reported at its end;
//  - an accepted value, written, parses back to the same value, and writing that gives the
//    same bytes again;
//  - every number's `int64`/`double` answers without trapping, and an `int64` spells the
//    number's own text back (but for `-0`).

@inline(never)
func jsonFuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

/// Visits every number in `value`, depth first.
func checkNumbers(in value: JSONValue) {
    switch value {
    case .number(let n):
        _ = n.double
        if let exact = n.int64 {
            jsonFuzzCheck(String(exact) == n.text || (exact == 0 && n.text == "-0"), "int64 \(exact) for \(n.text)")
        }
    case .array(let elements):
        elements.forEach(checkNumbers)
    case .object(let object):
        object.members.forEach { checkNumbers(in: $0.value) }
    case .null, .bool, .string:
        break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func jsonFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let parser = JSONParser(maxDepth: 32)
    let value: JSONValue
    do throws(JSONParseError) {
        value = try parser.parse(input)
    } catch {
        jsonFuzzCheck(error.offset >= 0 && error.offset <= size, "offset \(error.offset) of \(size)")
        jsonFuzzCheck(error.kind != .unexpectedEnd || error.offset == size, "unexpectedEnd at \(error.offset) of \(size)")
        _ = error.description
        return 0
    }
    checkNumbers(in: value)
    let written = value.jsonBytes
    do throws(JSONParseError) {
        let again = try parser.parse(written)
        jsonFuzzCheck(again == value, "written value differs: \(String(decoding: written, as: UTF8.self))")
        jsonFuzzCheck(again.jsonBytes == written, "second write differs")
    } catch {
        fatalError("writer output refused (\(error)): \(String(decoding: written, as: UTF8.self))")
    }
    return 0
}
