import Foundation
import ModelFoolData
import XCTest

/// Errors quoting bytes of a hostile file stay one line (found by Fuzz/fuzz-torch: a pickle GLOBAL
/// whose name held a carriage return made a two-line error).
final class OneLineErrorTests: XCTestCase {
  func testLineBreaksAndControlCharactersAreEscaped() {
    XCTAssertEqual(DataError("a\rb\nc\u{2028}d\u{85}e\u{0}f").description, "a\\u{D}b\\u{A}c\\u{2028}d\\u{85}e\\u{0}f")
    XCTAssertEqual(DataError("plain, über 'ok'").description, "plain, über 'ok'")
  }

  func testPickleGlobalWithCarriageReturnIsOneLine() throws {
    // Legacy .pth header (magic number, protocol 1001, empty sys_info), then GLOBAL "evil\rmodule" "name".
    let header: [UInt8] =
      [0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]
      + [0x80, 2, 0x4d, 0xe9, 0x03, 0x2e] + [0x80, 2, 0x7d, 0x2e]
    let bytes = header + [0x80, 2] + Array("cevil\rmodule\nname\n.".utf8)
    XCTAssertThrowsError(try TorchCheckpoint.read(bytes: Data(bytes), source: "x.pt")) { error in
      let text = String(describing: error)
      XCTAssertFalse(text.contains(where: \.isNewline), text)
      XCTAssertTrue(text.contains("evil\\u{D}module.name"), text)
    }
  }
}
