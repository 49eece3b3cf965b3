/// A strict RFC 8259 parser: no comments, trailing commas, NaN/Infinity, leading zeros, `+`,
/// BOM, or whitespace other than SP/HT/LF/CR. Strings must be valid UTF-8 without raw control
/// characters; `\u` surrogates must pair up. A key repeated within one object is refused, since
/// two readers of the message could disagree on which one counts.
///
/// The parser itself is iterative, so no input can exhaust the stack while parsing. The values
/// it returns are recursive enums, though, and comparing, writing and freeing them recurses
/// once per level: keep `maxDepth` modest (the default suits every message we exchange).
public struct JSONParser: Sendable {
    /// How many arrays and objects may be open at once; one more is `tooDeep`.
    public let maxDepth: Int

    public init(maxDepth: Int = 64) {
        precondition(maxDepth >= 0, "maxDepth must not be negative")
        self.maxDepth = maxDepth
    }

    /// Parses exactly one JSON text: optional whitespace around one value; anything else after it is an error.
    public func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        var reader = JSONReader(maxDepth: maxDepth)
        return try reader.document(bytes)
    }

    public func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        // `withUnsafeBytes` only rethrows `any Error`; a Result carries the typed error across.
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONParseError) in try parse(buffer) }
        }.get()
    }
}
