import Market
import Money
import Testing

/// The import file's parser and row rules, on byte vectors.
@Suite("CSV and import rows")
struct CSVTests {
    func records(_ text: String, chunk: Int = 3) throws -> [([String], Int)] {
        var parser = CSVParser()
        var out: [([String], Int)] = []
        let bytes = Array(text.utf8)
        let collect: ([[UInt8]], Int) throws(CSVParser.Failure) -> Void = { fields, line in
            out.append((fields.map { String(decoding: $0, as: UTF8.self) }, line))
        }
        do {
            var i = 0
            while i < bytes.count {   // fed in small pieces: state carries across chunks
                try parser.feed(bytes[i..<min(i + chunk, bytes.count)], collect)
                i += chunk
            }
            try parser.finish(collect)
        } catch {
            switch error {
            case .parse(let f): throw f
            case .record(let f): throw f
            }
        }
        return out
    }

    func failure(_ text: String) -> CSVParser.Failure? {
        do { _ = try records(text); return nil } catch { return error as? CSVParser.Failure }
    }

    @Test func quotedFieldsLFAndCRLF() throws {
        let r = try records("a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\n\"multi\nline\",\n\"\",z")
        #expect(r.map(\.0) == [["a", "b"], ["x,1", "say \"hi\""], ["multi\nline", ""], ["", "z"]])
        #expect(r.map(\.1) == [1, 2, 3, 5])
        #expect(try records("a\n\n").map(\.0) == [["a"], [""]])
        #expect(try records("").isEmpty)
    }

    @Test func malformedCSVNamesTheLine() {
        #expect(failure("a\nb\"c\n") == .init(line: 2, message: "a quote inside an unquoted field"))
        #expect(failure("a\n\"b\"c\n")?.line == 2)
        #expect(failure("a\n\"open") == .init(line: 2, message: "a quoted field is not closed"))
        #expect(failure("a\rb")?.message == "a CR not followed by LF")
    }

    func row(_ s: String, line: Int = 2) -> Result<BarImportRow, BarImportRow.Failure> {
        let fields = s.split(separator: ",", omittingEmptySubsequences: false).map { Array($0.utf8) }
        do { return .success(try BarImportRow(fields: fields, line: line)) } catch { return .failure(error) }
    }

    func field(_ s: String) -> String? {
        if case .failure(let f) = row(s) { return f.field ?? "(none)" }
        return nil
    }

    @Test func aGoodRow() throws {
        let r = try row("SPY,2024-02-29,10.50,12,9.000,11,1000").get()
        #expect(r.symbol == "SPY")
        #expect(r.t == 1_709_164_800_000)
        #expect(r.open.description == "10.5" && r.low.description == "9" && r.volume.description == "1000")
        #expect(try row("A,1969-12-31,1,1,1,1,0").get().t == -86_400_000)
    }

    @Test func badRowsNameTheField() {
        #expect(field("spy,2024-01-02,1,1,1,1,0") == "symbol")
        #expect(field("ABCDEFGHIJKLMNOPQ,2024-01-02,1,1,1,1,0") == "symbol")
        #expect(field("SPY,2023-02-29,1,1,1,1,0") == "date")
        #expect(field("SPY,2024-13-01,1,1,1,1,0") == "date")
        #expect(field("SPY,2024-1-01,1,1,1,1,0") == "date")
        #expect(field("SPY,2024-04-31,1,1,1,1,0") == "date")
        #expect(field("SPY,2024-01-02,0,1,1,1,0") == "open")
        #expect(field("SPY,2024-01-02,-1,1,1,1,0") == "open")
        #expect(field("SPY,2024-01-02,01,1,1,1,0") == "open")
        #expect(field("SPY,2024-01-02,1e2,1,1,1,0") == "open")
        #expect(field("SPY,2024-01-02,1.,1,1,1,0") == "open")
        #expect(field("SPY,2024-01-02,1,,1,1,0") == "high")
        #expect(field("SPY,2024-01-02,2,3,2.5,3,0") == "low")
        #expect(field("SPY,2024-01-02,2,2.5,1,3,0") == "high")
        #expect(field("SPY,2024-01-02,1,1,1,1,-0") == "volume")
        #expect(field("SPY,2024-01-02,1,1,1,1,0,extra") == "(none)")
        #expect(field("SPY,2024-01-02,1,1,1,1," + String(repeating: "9", count: 39)) == "volume")
        #expect(field("SPY,2024-01-02,1,1,1,1,0.000" + String(repeating: "9", count: 38)) == nil)
        if case .failure(let f) = row("SPY,2024-01-02,2,3,2.5,3,0", line: 7) {
            #expect(f.description == "line 7, field 'low': must be <= open and <= close")
        }
    }

    @Test func theHeaderMustBeExact() {
        let good = BarImportRow.header.map { Array($0.utf8) }
        #expect(throws: Never.self) { try BarImportRow.checkHeader(good, line: 1) }
        #expect(throws: BarImportRow.Failure.self) { try BarImportRow.checkHeader(Array(good.reversed()), line: 1) }
    }
}

@Suite("CSV bounds")
struct CSVBoundsTests {
    func failure(_ text: String) -> CSVParser.Failure? {
        var parser = CSVParser(maxFieldBytes: 8, maxFields: 3)
        let ignore: ([[UInt8]], Int) throws(CSVParser.Failure) -> Void = { _, _ in }
        do {
            try parser.feed(Array(text.utf8), ignore)
            try parser.finish(ignore)
            return nil
        } catch {
            if case .parse(let f) = error { return f }
            return nil
        }
    }

    @Test func longFieldsAndWideRecordsAreRefused() {
        #expect(failure("12345678,a,b\n") == nil)
        #expect(failure("a\n123456789\n") == .init(line: 2, message: "a field longer than 8 bytes"))
        #expect(failure("a,b,c,d\n") == .init(line: 1, message: "a record of more than 3 fields"))
        #expect(failure("\"1234\n5678x\"\n")?.message == "a field longer than 8 bytes")
    }
}
