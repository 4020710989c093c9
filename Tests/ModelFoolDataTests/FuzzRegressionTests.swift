import Foundation
import ModelFoolData
import XCTest

/// Regressions found by the fuzz targets (Fuzz/). Errors quoting bytes of a hostile file stay one
/// line (fuzz-torch: a pickle GLOBAL whose name held a carriage return; fuzz-csv: a field with one).
final class FuzzRegressionTests: XCTestCase {
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

  /// fuzz-checkpoint: a version-1 (unsealed) checkpoint whose global heap object claims 12,545
  /// bytes in a 4,104-byte collection made libhdf5 read past its buffer (H5HG_read); the heaps of
  /// unsealed files are now checked before libhdf5 opens them, and an intact one still passes.
  func testGlobalHeapObjectsMustFitTheirCollection() throws {
    let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../Fuzz/corpus/checkpoint").standardizedFileURL.path
    XCTAssertThrowsError(try HDF5File.checkGlobalHeaps(corpus + "/crash-v1-global-heap-object-size.h5")) { error in
      XCTAssertTrue(String(describing: error).hasSuffix(
        "damaged, object 3 of the global heap at byte 18824 claims 12545 bytes, beyond its collection"), "\(error)")
    }
    XCTAssertNoThrow(try HDF5File.checkGlobalHeaps(corpus + "/v1-german-mlp.h5"))
  }

  /// fuzz-csv: a field of 25 digits overflowed the integer fast path of `CSV.number` (a trap now
  /// that release builds check arithmetic); long fields take the `Float(String)` path.
  func testLongDigitFieldsParseAsFloats() throws {
    let table = try CSV.parseNumbers(Array("1,9999999999999999999999999\n2,123456789\n".utf8), file: "x.csv")
    XCTAssertEqual(table.values, [1, 1e25, 2, 123456789])
    XCTAssertThrowsError(try CSV.parseNumbers(Array("1.5,2\n4,99999999999999999999999?\n".utf8), file: "x.csv")) { error in
      XCTAssertEqual(String(describing: error), "x.csv: line 2: '99999999999999999999999?' is not a number")
    }
  }

  /// fuzz-jpeg: a 555-byte JPEG whose header claims a large frame took over 5 s, libjpeg filling
  /// every missing row in; the decode now stops at the end of the data.
  func testTruncatedJPEGClaimingALargeFrameStopsAtTheEndOfItsData() throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../Fuzz/corpus/jpeg/timeout-truncated-huge-claim.jpg").standardizedFileURL.path
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let start = Date()
    XCTAssertThrowsError(try JPEGImage.decode(bytes, source: "x.jpg")) { error in
      XCTAssertTrue(String(describing: error).hasPrefix("x.jpg: corrupt or truncated JPEG file"), "\(error)")
    }
    XCTAssertLessThan(Date().timeIntervalSince(start), 1)
  }
}
