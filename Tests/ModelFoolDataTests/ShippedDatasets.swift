import Foundation
import ModelFoolData

/// Test helpers for the shipped `datasets/` folder and temporary data folders.
enum ShippedDatasets {
  /// `<repo>/datasets`, found from this source file so tests run from any directory.
  static let root: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("datasets").path

  /// A fresh empty folder under the system temp directory.
  static func temporaryFolder(_ tag: String) throws -> String {
    let path = NSTemporaryDirectory() + "modelfool-data-\(tag)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Writes `bytes` to `folder/relative`, creating sub-folders.
  static func write(_ bytes: [UInt8], to folder: String, _ relative: String) throws -> String {
    let path = folder + "/" + relative
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  /// The raw bytes of a shipped file.
  static func bytes(_ relative: String) -> [UInt8] {
    [UInt8](FileManager.default.contents(atPath: root + "/" + relative) ?? Data())
  }

  /// The message of the `DataError` `body` throws, or nil when it throws none.
  static func dataErrorMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch let e as DataError { return e.description } catch { return "not a DataError: \(error)" }
    return nil
  }
}
