import Foundation
import XCTest

/// Replays every committed fuzz corpus file (Fuzz/corpus/READER/) once through the entry points
/// the libFuzzer targets use (FuzzedReaders.swift, linked from Fuzz/Sources/FuzzEntries), without
/// the fuzzer: each reader must return or throw a one-line error. Inputs that once crashed a
/// reader are kept in the corpus, so this is their regression test.
final class FuzzCorpusTests: XCTestCase {
  static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../Fuzz/corpus").standardizedFileURL.path

  func testEveryCorpusFileIsReadOrRefusedInOneLine() throws {
    var replayed = 0
    for reader in FuzzedReader.allCases {
      let folder = "\(Self.corpus)/\(reader.rawValue)"
      let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
      XCTAssertFalse(files.isEmpty, "no corpus in \(folder)")
      for file in files {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(file)")))
        if let problem = reader.feed(bytes) { XCTFail("\(reader.rawValue)/\(file): \(problem)") }
        replayed += 1
      }
    }
    XCTAssertGreaterThan(replayed, 30)
  }
}
