import Foundation
import ModelFool
import ModelFoolData
import Testing

/// Side files and named inputs from outside: limits, non-regular files, duplicate keys, and the
/// ImageNet label files as validated documents (seeded mutations of valid files).
@Suite struct InputFileTests {
  /// A FIFO at a fresh path (no writer: opening it for reading would block).
  static func fifo(_ folder: String, _ name: String) throws -> String {
    let path = folder + "/" + name
    #expect(mkfifo(path, 0o600) == 0)
    return path
  }

  @Test func fifosAreRefusedWithoutBlocking() throws {
    let folder = try ShippedDatasets.temporaryFolder("fifo")
    let fifo = try Self.fifo(folder, "photo.JPEG")
    #expect(try InputFile.irregularKind(fifo) == "a FIFO")
    #expect(try InputFile.irregularKind(folder) == "a folder")
    #expect(!InputFile.isRegular(fifo) && !InputFile.isRegular(folder + "/missing"))
    #expect { try InputFile.bytes(fifo) } throws: { "\($0)" == "\(fifo): is a FIFO, not a regular file" }
    #expect { try ImageFile.read(fifo) } throws: { "\($0)" == "\(fifo): is a FIFO, not a regular file" }
    let h5 = try Self.fifo(folder, "data.h5")
    #expect { try HDF5File.open(h5) } throws: { "\($0)" == "\(h5): is a FIFO, not a regular file" }
    let pth = try Self.fifo(folder, "weights.pth")
    #expect { try TorchCheckpoint.read(path: pth) } throws: { "\($0)" == "\(pth): is a FIFO, not a regular file" }
    #expect { try InputFile.bytes(folder + "/missing") } throws: { "\($0)" == "\(folder)/missing: file not found" }
  }

  /// Image folders (in memory and streamed ILSVRC splits) skip FIFOs named like images without
  /// opening them (which would block with no writer), with one line counting them.
  @Test func fifosNamedLikeImagesAreSkippedWithOneLine() throws {
    final class Lines { var all: [String] = [] }
    let lines = Lines()
    let log: (String) -> Void = { lines.all.append($0) }
    // A folder per class, loaded into memory: one PNG, and FIFOs in both class folders.
    let root = try ShippedDatasets.temporaryFolder("fifo-folder")
    let rgb = (0..<(16 * 16 * 3)).map { UInt8($0 % 251) }
    try FileManager.default.createDirectory(atPath: root + "/n01", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/n02", withIntermediateDirectories: true)
    try PNGImage.write(rgb: rgb, width: 16, height: 16, to: root + "/n01/a.png")
    _ = try Self.fifo(root + "/n01", "b.png")
    _ = try Self.fifo(root + "/n02", "c.JPEG")
    let listing = try ImageNetDataset.folderItems(root: root, log: log)
    #expect(listing.items.map(\.path) == [root + "/n01/a.png"] && listing.classNames == ["n01", "n02"])
    let message = "skipped 2 file(s) named like images that are not regular files (FIFOs, devices, sockets), e.g. n01/b.png"
    #expect(lines.all == ["\(root): \(message)"])
    let data = try ImageNetDataset.loadFolder(root: root, preprocessing: .pixelRange, log: log)
    #expect(data.inputs.shape == [1, 3, 224, 224] && data.labels == [0])
    #expect(lines.all.count == 2)

    // A streamed ILSVRC split, class folders: a FIFO beside a file in one class, alone in another.
    lines.all = []
    let tree = try ShippedDatasets.temporaryFolder("fifo-ilsvrc")
    _ = try ShippedDatasets.write(Array(Self.classIndex.utf8), to: tree, "imagenet_class_index.json")
    _ = try ShippedDatasets.write([0xFF, 0xD8], to: tree, "train/n01/x.JPEG")
    _ = try Self.fifo(tree + "/train/n01", "y.JPEG")
    try FileManager.default.createDirectory(atPath: tree + "/train/n03", withIntermediateDirectories: true)
    _ = try Self.fifo(tree + "/train/n03", "z.JPEG")
    let train = try ILSVRCFolder.split(.train, root: tree, log: log)
    #expect(train.files.count == 1 && train.files.relativePath(0) == "train/n01/x.JPEG" && train.files.label(0) == 0)
    #expect(lines.all == ["\(tree): skipped 2 file(s) named like images that are not regular files (FIFOs, devices, sockets), e.g. train/n01/y.JPEG"])

    // A flat validation folder: the FIFO has no label either, and is skipped, not an error.
    lines.all = []
    let csv = "ImageId,PredictionString\nILSVRC2012_val_00000001,n02 1 2 3 4\nILSVRC2012_val_00000002,n03 1 2 3 4\n"
    let flat = try Self.flatTree(labels: "LOC_val_solution.csv", csv)
    _ = try Self.fifo(flat + "/val", "ILSVRC2012_val_00000003.JPEG")
    let val = try ILSVRCFolder.split(.val, root: flat, log: log)
    #expect(val.files.count == 2 && (0..<2).map(val.files.label) == [1, 2])
    #expect(lines.all == ["\(flat): skipped 1 file(s) named like images that are not regular files (FIFOs, devices, sockets), e.g. val/ILSVRC2012_val_00000003.JPEG"])
  }

  @Test func byteAndLineLimitsAreCheckedBeforeDecoding() throws {
    let folder = try ShippedDatasets.temporaryFolder("limits")
    let path = try ShippedDatasets.write(Array("ab\ncdef\ngh".utf8), to: folder, "x.txt")
    #expect(try InputFile.bytes(path, maxBytes: 10, maxLineBytes: 4) == Array("ab\ncdef\ngh".utf8))
    #expect { try InputFile.bytes(path, maxBytes: 9) } throws: { "\($0)" == "\(path): 10 bytes is over the limit of 9 bytes for this kind of file" }
    #expect { try InputFile.bytes(path, maxLineBytes: 3) } throws: { "\($0)" == "\(path): line 2 is over 3 bytes" }
    // The last line, without a newline, counts too.
    let tail = try ShippedDatasets.write(Array("a\nbcdef".utf8), to: folder, "y.txt")
    #expect { try InputFile.bytes(tail, maxLineBytes: 4) } throws: { "\($0)" == "\(tail): line 2 is over 4 bytes" }
  }

  @Test func duplicateJSONKeysAreFoundAtEveryDepth() {
    func dup(_ text: String) -> String? { JSONKeys.firstDuplicate(in: Array(text.utf8)) }
    #expect(dup(#"{"a": 1, "b": 2}"#) == nil)
    #expect(dup(#"{"a": 1, "b": 2, "a": 3}"#) == "a")
    // The same key in sibling objects, or as a string value, is no duplicate.
    #expect(dup(#"[{"a": 1}, {"a": 2}, "a", {"b": ["a", "a"]}]"#) == nil)
    #expect(dup(#"{"x": {"k": [1, {"k": 2}], "j": 3}, "y": "}"}"#) == nil)
    #expect(dup(#"{"x": {"k": 1, "k": 2}}"#) == "k")
    // Escapes are decoded before comparing; quotes inside strings do not end them.
    #expect(dup(#"{"1": 0, "\u0031": 1}"#) == "1")
    #expect(dup(#"{"a\"b": 0, "c": "\"", "a\"b": 1}"#) == "a\"b")
  }

  /// A 3-class index in Keras' layout, as text.
  static let classIndex = #"{"0": ["n01", "tench"], "1": ["n02", "goldfish"], "2": ["n03", "shark"]}"#

  @Test func classIndexIsAValidatedDocument() throws {
    let folder = try ShippedDatasets.temporaryFolder("classes")
    let good = try ShippedDatasets.write(Array(Self.classIndex.utf8), to: folder, "good.json")
    #expect(try ImageNetDataset.loadClassIndex(good).map(\.wordNetID) == ["n01", "n02", "n03"])
    let cases: [(String, String)] = [
      // "01" beside "1": both read as class 1 and left class 2 empty (a crash).
      (#"{"0": ["n01", "a"], "1": ["n02", "b"], "01": ["n03", "c"]}"#, "class index key '01' is not one of 0 ..< 3 written plainly"),
      (#"{"0": ["n01", "a"], "1": ["n02", "b"], "1": ["n03", "c"]}"#, "key \"1\" appears more than once"),
      (#"{"0": ["n01", "a"], "1": ["n01", "b"]}"#, "wnid n01 is given to classes 0 and 1"),
      (#"{"0": ["n01", "a"], "-1": ["n02", "b"]}"#, "class index key '-1' is not one of 0 ..< 2 written plainly"),
      (#"{"0": ["n01", "a"], "+1": ["n02", "b"]}"#, "class index key '+1' is not one of 0 ..< 2 written plainly"),
      (#"{"0": ["n01", "a"], "2": ["n02", "b"]}"#, "class index key '2' is not one of 0 ..< 2 written plainly"),
      (#"{"0": ["n01"]}"#, #"class 0 must be ["WNID", "name"]"#),
      (#"{"0": ["n01", "a"]"#, "not valid JSON"),
    ]
    for (i, (text, message)) in cases.enumerated() {
      let path = try ShippedDatasets.write(Array(text.utf8), to: folder, "bad\(i).json")
      #expect { try ImageNetDataset.loadClassIndex(path) } throws: { "\($0)" == "\(path): \(message)" }
    }
    let mapping = try ShippedDatasets.write(Array("n01 tench, Tinca\nn02 goldfish\nn01 again\n".utf8), to: folder, "LOC_synset_mapping.txt")
    #expect { try ImageNetDataset.loadClassIndex(mapping) } throws: { "\($0)" == "\(mapping): wnid n01 is given to classes 0 and 2" }
    let long = try ShippedDatasets.write(Array(("n01 " + String(repeating: "x", count: InputFile.defaultMaxLineBytes) + "\n").utf8), to: folder, "long.txt")
    #expect { try ImageNetDataset.loadClassIndex(long) } throws: { "\($0)" == "\(long): line 1 is over \(InputFile.defaultMaxLineBytes) bytes" }
  }

  /// A small flat ILSVRC tree: 3 classes, two validation images named in `labels`.
  static func flatTree(labels name: String, _ text: String) throws -> String {
    let root = try ShippedDatasets.temporaryFolder("ilsvrc")
    _ = try ShippedDatasets.write(Array(classIndex.utf8), to: root, "imagenet_class_index.json")
    for image in ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG"] {
      _ = try ShippedDatasets.write([0xFF, 0xD8], to: root, "val/" + image)
    }
    _ = try ShippedDatasets.write(Array(text.utf8), to: root, name)
    return root
  }

  @Test func flatValidationLabelsAreValidatedDocuments() throws {
    let csvHeader = "ImageId,PredictionString\n"
    let goodCSV = csvHeader + "ILSVRC2012_val_00000001,n02 1 2 3 4\nILSVRC2012_val_00000002,n03 1 2 3 4\n"
    let good = try Self.flatTree(labels: "LOC_val_solution.csv", goodCSV)
    #expect(try ILSVRCFolder.split(.val, root: good, log: { _ in }).files.count == 2)
    let goodJSON = try Self.flatTree(labels: "val_labels.json", #"{"ILSVRC2012_val_00000001.JPEG": 2, "ILSVRC2012_val_00000002.JPEG": 0}"#)
    #expect(try ILSVRCFolder.split(.val, root: goodJSON, log: { _ in }).files.count == 2)
    let cases: [(String, String, String)] = [
      ("LOC_val_solution.csv", goodCSV + "ILSVRC2012_val_00000001,n03 1 2 3 4\n", "line 4: image ILSVRC2012_val_00000001 is labelled more than once"),
      ("LOC_val_solution.csv", csvHeader + "ILSVRC2012_val_00000001,n09 1\n", "line 2: n09 is not one of the 3 classes"),
      ("LOC_val_solution.csv", csvHeader + "ILSVRC2012_val_00000001," + String(repeating: "n", count: InputFile.defaultMaxLineBytes + 1) + "\n",
       "line 2 is over \(InputFile.defaultMaxLineBytes) bytes"),
      ("val_labels.json", #"{"ILSVRC2012_val_00000001.JPEG": 2, "ILSVRC2012_val_00000001.JPEG": 1}"#, "key \"ILSVRC2012_val_00000001.JPEG\" appears more than once"),
      ("val_labels.json", #"{"ILSVRC2012_val_00000001.JPEG": -1}"#, "ILSVRC2012_val_00000001.JPEG has label -1, not one of the 3 classes"),
      ("val_labels.json", #"{"ILSVRC2012_val_00000001.JPEG": 1.5}"#, "ILSVRC2012_val_00000001.JPEG has label 1.5, not a whole number"),
      ("val_labels.json", #"{"ILSVRC2012_val_00000001.JPEG": "1"}"#, "ILSVRC2012_val_00000001.JPEG has label 1, not a whole number"),
      ("val_labels.json", #"[1, 2]"#, "expected a JSON object from file name to class index"),
    ]
    for (name, text, message) in cases {
      let root = try Self.flatTree(labels: name, text)
      #expect { try ILSVRCFolder.split(.val, root: root, log: { _ in }) } throws: { "\($0)" == "\(root)/\(name): \(message)" }
    }
  }

  /// Seeded mutations of a valid class index and label file: a random byte replaced, a random
  /// key duplicated, a random entry's value swapped for a hostile one. Each must load or give a
  /// one-line error; none may trap.
  @Test func seededMutationsOfLabelFilesGiveErrorsNotTraps() throws {
    var g = SeededGenerator(seed: 23)
    let folder = try ShippedDatasets.temporaryFolder("mutations")
    let base = Array(Self.classIndex.utf8)
    let hostile = [#""01""#, #""-1""#, #""1""#, "1e400", #"["n01", "a"]"#, "[]", "null", #""""#, "{}", #"["n02", "x"]"#]
    var refused = 0
    for trial in 0..<300 {
      var bytes = base
      switch trial % 3 {
      case 0:
        bytes[Int.random(in: 0..<bytes.count, using: &g)] = UInt8.random(in: 0x20...0x7E, using: &g)
      case 1:
        // An existing entry repeated with another value: must be refused as a duplicate.
        let key = Int.random(in: 0..<3, using: &g)
        bytes.removeLast()
        bytes += Array(#", "\#(key)": ["n09", "x"]}"#.utf8)
      default:
        let key = Int.random(in: 0..<3, using: &g)
        let value = hostile[Int.random(in: 0..<hostile.count, using: &g)]
        bytes.removeLast()
        bytes += Array(#", "\#(key + 3)": \#(value)}"#.utf8)
      }
      let path = try ShippedDatasets.write(bytes, to: folder, "m\(trial).json")
      do {
        let entries = try ImageNetDataset.loadClassIndex(path)
        // What loads is a valid index: distinct wnids, one per class.
        #expect(Set(entries.map(\.wordNetID)).count == entries.count)
      } catch let error as DataError {
        refused += 1
        #expect(error.description.hasPrefix(path + ": ") && !error.description.contains("\n"))
        if trial % 3 == 1 { #expect(error.description.contains("appears more than once")) }
      }
    }
    // Every duplicated key and most replaced values are refused.
    #expect(refused >= 200)
  }
}
