// The readers of untrusted bytes that the fuzz targets drive, one entry point each. This file is
// compiled twice: into the fuzz targets (Fuzz/Package.swift) and, through a symbolic link, into
// the main package's ModelFoolTrainingTests, which replays every committed corpus file through
// the same entry points without the fuzzer (FuzzCorpusTests).

import Foundation
import ModelFoolData
import ModelFoolTraining

/// A reader of untrusted bytes; the raw value names its corpus folder (Fuzz/corpus/<raw value>).
public enum FuzzedReader: String, CaseIterable, Sendable {
  /// `TorchCheckpoint.read(bytes:source:)`: PyTorch zip and legacy .pth files, pickles, safetensors.
  case torch
  /// `Checkpoint.load` on the bytes written to a temporary file (libhdf5 reads only files).
  case checkpoint
  /// `CSV.parse` (header, quoted fields), `CSV.parseNumbers` and `CSVSchema.decode`.
  case csv
  /// `Gzip.read` on the bytes written to a temporary file.
  case gzip
  /// `JPEGImage.decode` with a pixel budget of ``jpegPixelBudget``.
  case jpeg
  /// `PNGImage.read` on the bytes written to a temporary file, with the default pixel budget.
  case png
  /// The side files, every reader on every input: the fine-tuning resume state (progress, Adam
  /// steps, run record), `evaluate --shard` count files (and merging two), `audit calibrate`
  /// calibrations, class indexes (`imagenet_class_index.json`, `LOC_synset_mapping.txt`, class
  /// name lists) and a flat validation set's labels (`LOC_val_solution.csv`, `val_labels.json`).
  case sidefiles
  /// `ONNXReader.read(bytes:source:folder:)` (no external data) and building the graph network.
  case onnx

  /// The JPEG target's pixel budget, below the default 100 megapixels: a tiny file may claim an
  /// allowed size whose missing data libjpeg fills in (arithmetic coding zero-fills without a
  /// warning), and decoding 42 megapixels took 2 s in a release build but over libFuzzer's 5 s
  /// under ASan on a loaded machine. Work linear in an allowed size is not a hang; 8 megapixels
  /// keeps it under the timeout so that a timeout still means one.
  public static let jpegPixelBudget = 8_000_000

  /// Feeds `bytes` to the reader. Returns nil when the reader returned or threw a one-line error,
  /// otherwise what is wrong with the error it threw (empty, or several lines).
  public func feed(_ bytes: [UInt8]) -> String? {
    do {
      try read(bytes)
      return nil
    } catch {
      let text = String(describing: error)
      if text.isEmpty { return "\(rawValue): \(type(of: error)) with an empty message" }
      if text.contains(where: \.isNewline) { return "\(rawValue): \(type(of: error)) of several lines: \(text)" }
      return nil
    }
  }

  private func read(_ bytes: [UInt8]) throws {
    switch self {
    case .torch:
      _ = try TorchCheckpoint.read(bytes: Data(bytes), source: "fuzz.pt")
    case .checkpoint:
      _ = try withTemporaryFile(bytes, suffix: "h5") { try Checkpoint.load($0) }
    case .csv:
      // Both parsers see every input: the first error of one must not hide a crash in the other.
      let table = try? CSV.parse(bytes, file: "fuzz.csv", options: CSV.Options(trimSpaces: true, commentPrefix: "|"))
      if let table, let first = table.header.first { _ = try? table.column(first) }
      _ = try? CSVSchema.decode(bytes, source: "fuzz.schema.json")
      _ = try CSV.parseNumbers(bytes, file: "fuzz.csv")
    case .gzip:
      _ = try withTemporaryFile(bytes, suffix: "gz") { try Gzip.read(path: $0) }
    case .jpeg:
      _ = try JPEGImage.decode(bytes, source: "fuzz.jpg", maxPixels: Self.jpegPixelBudget)
    case .png:
      _ = try withTemporaryFile(bytes, suffix: "png") { try PNGImage.read($0) }
    case .sidefiles:
      try readSideFiles(bytes)
    case .onnx:
      _ = try ONNXReader.model(ONNXReader.read(bytes: Data(bytes), source: "fuzz.onnx", folder: nil), source: "fuzz.onnx")
    }
  }

  /// Every side-file reader on `bytes`. A one-line error of one reader must not hide a crash in
  /// the next, so those are dropped; any other error is thrown (for ``feed(_:)`` to report).
  private func readSideFiles(_ bytes: [UInt8]) throws {
    let text = String(validating: bytes, as: UTF8.self)
    let labelOf = ["n01440764": 0, "n01443537": 1, "n01484850": 2]
    let readers: [() throws -> Void] = [
      {
        guard let text else { return }
        let progress = try RunJSON.decode(FineTuneProgress.self, from: text, what: "fuzz-progress")
        try progress.check(steps: 1000, source: "fuzz-progress")
      },
      { if let text { _ = try RunJSON.decode([Int].self, from: text, what: "fuzz-adam-steps") } },
      { if let text { _ = try FineTuneDocument.decode(text, source: "fuzz-record") } },
      {
        let counts = try self.withTemporaryFile(bytes, suffix: "counts.json") { try FoolingCounts.load($0) }
        _ = try FoolingCounts.merge([counts, counts]).evaluation()
      },
      { _ = try self.withTemporaryFile(bytes, suffix: "calibration.json") { try AuditCalibration.load($0) } },
      { _ = try self.withTemporaryFile(bytes, suffix: "json") { try ImageNetDataset.loadClassIndex($0) } },
      { _ = try self.withTemporaryFile(bytes, suffix: "json") { try ImageNetDataset.loadClassNames($0) } },
      { _ = try self.withTemporaryFile(bytes, suffix: "txt") { try ImageNetDataset.loadClassIndex($0) } },
      {
        _ = try self.withTemporaryFile(bytes, suffix: "csv") {
          try ILSVRCFolder.flatLabels(root: "/nonexistent", valLabels: $0, labelOf: labelOf, classes: 3)
        }
      },
      {
        _ = try self.withTemporaryFile(bytes, suffix: "json") {
          try ILSVRCFolder.flatLabels(root: "/nonexistent", valLabels: $0, labelOf: labelOf, classes: 3)
        }
      },
    ]
    for read in readers {
      do { try read() } catch {
        let message = String(describing: error)
        if message.isEmpty || message.contains(where: \.isNewline) { throw error }
      }
    }
  }

  /// Runs `body` on a file holding `bytes` (in /dev/shm when there is one), removed afterwards.
  private func withTemporaryFile<T>(_ bytes: [UInt8], suffix: String, _ body: (String) throws -> T) throws -> T {
    let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(folder)/modelfool-fuzz-\(getpid())-\(rawValue).\(suffix)"
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
      fatalError("cannot write the fuzz input to \(path)")
    }
    defer { unlink(path) }
    return try body(path)
  }
}
