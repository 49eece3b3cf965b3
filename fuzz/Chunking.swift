/// uWebSockets' fuzz-input trick, shared by both targets: after the first (configuration)
/// byte, each chunk starts with a length byte (0 = everything that remains), so libFuzzer
/// explores how the input is split across reads as well as the bytes themselves.
/// Returns the chunks and the same bytes as one stream (to compare chunked and whole runs).
func fuzzChunks(_ input: [UInt8], from start: Int) -> (chunks: [ArraySlice<UInt8>], stream: [UInt8]) {
    var chunks: [ArraySlice<UInt8>] = []
    var stream: [UInt8] = []
    var pos = start
    while pos < input.count {
        let n = Int(input[pos])
        pos += 1
        let len = n == 0 ? input.count - pos : min(n, input.count - pos)
        chunks.append(input[pos..<(pos + len)])
        stream += input[pos..<(pos + len)]
        pos += len
    }
    return (chunks, stream)
}
