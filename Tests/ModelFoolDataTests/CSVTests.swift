import Foundation
import ModelFoolData
import Testing

@Suite struct CSVTests {
  static func parse(_ text: String, _ options: CSV.Options = CSV.Options()) throws -> CSVTable {
    try CSV.parse(Array(text.utf8), file: "t.csv", options: options)
  }

  @Test func quotedFieldsEscapesAndLineEnds() throws {
    let t = try Self.parse("id,name,note\r\n1,\"Smith, J\",\"say \"\"hi\"\"\"\r\n\r\n2,plain,\"two\nlines\"\n3,,\n")
    #expect(t.header == ["id", "name", "note"])
    #expect(t.rows == [["1", "Smith, J", "say \"hi\""], ["2", "plain", "two\nlines"], ["3", "", ""]])
    // Row 2 starts on line 4 (line 3 is blank); row 3 follows the quoted newline on line 6.
    #expect(t.lineNumbers == [2, 4, 6])
    #expect(try t.column("note") == 2)
  }

  @Test func adultStyleSpacesAndComments() throws {
    let text = "|1x3 Cross validator\n25, Private, 11th, <=50K.\n38, ?, HS-grad, >50K.\n\n"
    let t = try Self.parse(text, CSV.Options(trimSpaces: true, hasHeader: false, commentPrefix: "|"))
    #expect(t.rows == [["25", "Private", "11th", "<=50K."], ["38", "?", "HS-grad", ">50K."]])
    #expect(t.lineNumbers == [2, 3])
    #expect(t.header == ["0", "1", "2", "3"])
  }

  @Test func spaceSeparated() throws {
    let t = try Self.parse("A11 6 A34\nA12 48 A32\n", CSV.Options(separator: UInt8(ascii: " "), hasHeader: false))
    #expect(t.rows == [["A11", "6", "A34"], ["A12", "48", "A32"]])
  }

  @Test func raggedRowNamesFileAndLine() {
    let m = ShippedDatasets.dataErrorMessage { _ = try Self.parse("a,b\n1,2\n3\n") }
    #expect(m == "t.csv: line 3: expected 2 fields, found 1")
  }

  @Test func unterminatedQuote() {
    let m = ShippedDatasets.dataErrorMessage { _ = try Self.parse("a,b\n1,\"open\n") }
    #expect(m == "t.csv: line 2: unterminated quoted field")
  }

  @Test func numericMatrix() throws {
    let t = try CSV.parseNumbers(Array("0,255,7\n1.5,-2,1e2\n".utf8), file: "n.csv")
    #expect(t.rows == 2 && t.columns == 3)
    #expect(t.values == [0, 255, 7, 1.5, -2, 100])
    let bad = ShippedDatasets.dataErrorMessage { _ = try CSV.parseNumbers(Array("1,2\n3,x\n".utf8), file: "n.csv") }
    #expect(bad == "n.csv: line 2: 'x' is not a number")
    let ragged = ShippedDatasets.dataErrorMessage { _ = try CSV.parseNumbers(Array("1,2\n3\n".utf8), file: "n.csv") }
    #expect(ragged == "n.csv: line 2: expected 2 fields, found 1")
  }

  @Test func missingFile() {
    let m = ShippedDatasets.dataErrorMessage { _ = try CSV.read(path: "/nonexistent/x.csv") }
    #expect(m == "/nonexistent/x.csv: file not found or unreadable")
  }
}
