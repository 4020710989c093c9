import Foundation
import ModelFool

/// The image files of a data set too large for memory, as a compact table: relative paths packed
/// into one byte buffer (about the length of the path per file, plus 16 bytes), and labels.
/// ILSVRC-2012's 1.28 million training files take about 50 MB.
public struct ImageFileTable: Sendable {
  /// Folder the paths are relative to.
  public let root: String
  private var bytes: [UInt8] = []
  private var ends: [Int] = []
  private var labelValues: [Int32] = []

  /// An empty table of files under `root`.
  public init(root: String) { self.root = root }

  /// Number of files.
  public var count: Int { ends.count }

  /// Appends the file at `relativePath` (below ``root``) with `label`.
  public mutating func append(_ relativePath: String, label: Int) {
    bytes.append(contentsOf: relativePath.utf8)
    ends.append(bytes.count)
    labelValues.append(Int32(clamping: label))
  }

  /// The path of file `i` below ``root``.
  public func relativePath(_ i: Int) -> String {
    let start = i == 0 ? 0 : ends[i - 1]
    return String(decoding: bytes[start..<ends[i]], as: UTF8.self)
  }

  /// The full path of file `i`.
  public func path(_ i: Int) -> String { root + "/" + relativePath(i) }

  /// The label of file `i`.
  public func label(_ i: Int) -> Int { Int(labelValues[i]) }

  /// The files at `indices`, in that order.
  public func subset(_ indices: [Int]) -> ImageFileTable {
    var table = ImageFileTable(root: root)
    for i in indices { table.append(relativePath(i), label: label(i)) }
    return table
  }
}

/// Reading the ILSVRC-2012 folder layout:
///
/// ```
/// DIR/train/<wnid>/*.JPEG
/// DIR/val/<wnid>/*.JPEG                       (class folders), or
/// DIR/val/ILSVRC2012_val_00000001.JPEG ...    (flat) with labels from
///     DIR/LOC_val_solution.csv                (ImageId,PredictionString: the string starts with the wnid)
///     or DIR/val_labels.json                  ({"ILSVRC2012_val_00000001.JPEG": 65, ...}: class indices)
/// ```
///
/// Classes: from a class-index file when given or found (`DIR/imagenet_class_index.json` or
/// `DIR/LOC_synset_mapping.txt`, see ``ImageNetDataset/loadClassIndex(_:)``), else the sorted wnid
/// folders of `train/` (of `val/` when there is no `train/`): torchvision's `ImageFolder` rule.
public enum ILSVRCFolder {
  /// The two splits of the layout.
  public enum Split: String, Codable, Sendable, CaseIterable { case train, val }

  /// The files and class names of `split` under `root`; `classIndex` and `valLabels` name the
  /// class-index file and the flat validation set's label file when they are not in the usual place.
  /// Files named like images that are not regular files (FIFOs, devices, sockets) are skipped
  /// without being opened, with one line to `log` counting them.
  public static func split(
    _ split: Split, root: String, classIndex: String? = nil, valLabels: String? = nil,
    log: (String) -> Void
  ) throws -> (files: ImageFileTable, classNames: [String]) {
    guard isFolder(root) else { throw DataError("\(root): ImageNet folder not found", settings: ["dataDir"]) }
    let (wnids, names) = try classes(indexIn: [root], classIndex: classIndex, folders: ["train", "val"].map { root + "/" + $0 })
    var labelOf: [String: Int] = [:]
    for (label, wnid) in wnids.enumerated() { labelOf[wnid] = label }
    let folder = root + "/" + split.rawValue
    guard isFolder(folder) else {
      throw DataError("\(root): no \(split.rawValue)/ folder (ILSVRC-2012 layout: train/<wnid>/*.JPEG, val/)", settings: ["dataDir"])
    }
    let entries = try listing(folder)
    let classFolders = entries.filter { isFolder(folder + "/" + $0) }
    var table = ImageFileTable(root: root)
    var skipped: [String] = []
    if !classFolders.isEmpty {
      try classFolderFiles(folder, folders: classFolders, prefix: split.rawValue + "/", labelOf: labelOf, classes: wnids.count, into: &table, skipped: &skipped)
    } else {
      let labels = try flatLabels(root: root, valLabels: valLabels, labelOf: labelOf, classes: wnids.count)
      var unlabelled: [String] = []
      let images = entries.filter(isImageName)
      for name in InputFile.regularFiles(images, in: folder, prefix: split.rawValue + "/", skipped: &skipped) {
        let stem = (name as NSString).deletingPathExtension
        guard let label = labels[name] ?? labels[stem] else { unlabelled.append(name); continue }
        table.append(split.rawValue + "/" + name, label: label)
      }
      if let first = unlabelled.first {
        throw DataError("\(folder): \(unlabelled.count) file(s) without a label, e.g. \(first)", settings: ["dataDir"])
      }
    }
    InputFile.reportSkipped(skipped, under: root, log: log)
    guard table.count > 0 else { throw DataError("\(folder): no JPEG or PNG files", settings: ["dataDir"]) }
    return (table, names)
  }

  /// The class wnids and names in label order, by the one rule of every ImageNet-layout reader:
  /// from `classIndex`, else from the first `imagenet_class_index.json` or `LOC_synset_mapping.txt`
  /// in `indexIn` (in order), else the sorted subfolder names of the first of `folders` that has
  /// any (torchvision's `ImageFolder` rule).
  static func classes(indexIn: [String], classIndex: String?, folders: [String]) throws -> (wnids: [String], names: [String]) {
    let found = classIndex ?? indexIn.flatMap { dir in ["imagenet_class_index.json", "LOC_synset_mapping.txt"].map { dir + "/" + $0 } }
      .first { FileManager.default.fileExists(atPath: $0) }
    if let found {
      let entries = try ImageNetDataset.loadClassIndex(found)
      return (entries.map(\.wordNetID), entries.map(\.name))
    }
    for folder in folders where isFolder(folder) {
      let wnids = try listing(folder).filter { isFolder(folder + "/" + $0) }
      if !wnids.isEmpty { return (wnids, wnids) }
    }
    throw DataError("\(indexIn[0]): no class folders in \(folders.joined(separator: " or ")) and no class-index file")
  }

  /// Appends the image files of the class subfolders `folders` of `folder` (`<wnid>/*.{jpg,jpeg,png}`,
  /// sorted, at most `limitPerClass` each) to `table`, as `prefix + wnid + "/" + name`, labelled by
  /// `labelOf`; files named like images that are not regular files go to `skipped` unopened.
  static func classFolderFiles(
    _ folder: String, folders: [String], prefix: String, labelOf: [String: Int], classes: Int, limitPerClass: Int? = nil,
    into table: inout ImageFileTable, skipped: inout [String]
  ) throws {
    for wnid in folders {
      guard let label = labelOf[wnid] else { throw DataError("\(folder)/\(wnid): the folder is not a class of the class list (\(classes) known)") }
      let images = try listing(folder + "/" + wnid).filter(isImageName)
      let regular = InputFile.regularFiles(images, in: folder + "/" + wnid, prefix: prefix + wnid + "/", skipped: &skipped)
      for name in regular.prefix(limitPerClass ?? Int.max) { table.append(prefix + wnid + "/" + name, label: label) }
    }
  }

  /// Labels of a flat validation folder, keyed by file name or image id: from `valLabels`, else
  /// the first of `root/LOC_val_solution.csv`, `root/val/LOC_val_solution.csv` and
  /// `root/val_labels.json`; `labelOf` maps a wnid to its label, of `classes` labels.
  public static func flatLabels(root: String, valLabels: String?, labelOf: [String: Int], classes: Int) throws -> [String: Int] {
    let candidates = valLabels.map { [$0] } ?? ["LOC_val_solution.csv", "val/LOC_val_solution.csv", "val_labels.json"].map { root + "/" + $0 }
    guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      throw DataError("\(root)/val is flat but has no labels (LOC_val_solution.csv or val_labels.json)", settings: ["dataDir"])
    }
    var labels: [String: Int] = [:]
    if path.lowercased().hasSuffix(".json") {
      guard let map = try InputFile.json(path, maxBytes: maxLabelFileBytes) as? [String: Any] else {
        throw DataError("\(path): expected a JSON object from file name to class index")
      }
      for (name, value) in map {
        guard let label = value as? Int else { throw DataError("\(path): \(name) has label \(value), not a whole number") }
        guard label >= 0, label < classes else { throw DataError("\(path): \(name) has label \(label), not one of the \(classes) classes") }
        labels[name] = label
      }
      return labels
    }
    let bytes = try InputFile.bytes(path, maxBytes: maxLabelFileBytes, maxLineBytes: InputFile.defaultMaxLineBytes)
    let table = try CSV.parse(bytes, file: path, options: CSV.Options(hasHeader: true))
    for (r, row) in table.rows.enumerated() {
      guard row.count >= 2, let wnid = row[1].split(separator: " ").first.map(String.init) else {
        throw DataError("\(path): line \(table.lineNumbers[r]) is not 'ImageId,PredictionString'")
      }
      guard let label = labelOf[wnid] else {
        throw DataError("\(path): line \(table.lineNumbers[r]): \(wnid) is not one of the \(classes) classes")
      }
      guard labels.updateValue(label, forKey: row[0]) == nil else {
        throw DataError("\(path): line \(table.lineNumbers[r]): image \(row[0]) is labelled more than once")
      }
    }
    return labels
  }

  /// The byte limit of a flat validation set's label file (ILSVRC's `LOC_val_solution.csv` is
  /// about 4 MB).
  public static let maxLabelFileBytes = 64 << 20

  static func isFolder(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
  }

  static func isImageName(_ name: String) -> Bool {
    !name.hasPrefix(".") && ImageFile.extensions.contains((name as NSString).pathExtension.lowercased())
  }

  /// The visible entries of a folder, sorted.
  static func listing(_ folder: String) throws -> [String] {
    do {
      return try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
    } catch {
      throw DataError("\(folder): cannot list the folder")
    }
  }
}

/// A labelled image data set streamed from files: each batch is decoded, resized and cropped on
/// background threads (``PrefetchingDecoder``) while the previous one is used.
///
/// Memory, whatever the number of files: the file table (``ImageFileTable``, tens of bytes a
/// file), `prefetch + 2` batches of `batch x example` floats, and one decoded image per decoding
/// thread. A file that cannot be read is left out of its batch with one line to the consumer.
public struct ImageFolderSource: BatchSource {
  public var name: String
  public var files: ImageFileTable
  public var classNames: [String]
  /// One example's shape (`[C, H, W]`).
  public var exampleShape: [Int]
  /// Turns one file into one example's floats.
  public var decode: @Sendable (_ path: String, _ destination: UnsafeMutablePointer<Float>) throws -> Void
  /// Batches decoded ahead of the consumer.
  public var prefetch = 2
  /// Decoding threads per batch.
  public var threads = max(ProcessInfo.processInfo.activeProcessorCount, 1)

  /// A source of `files`, each decoded by `decode` into `exampleShape` floats.
  public init(
    name: String, files: ImageFileTable, classNames: [String], exampleShape: [Int],
    decode: @escaping @Sendable (_ path: String, _ destination: UnsafeMutablePointer<Float>) throws -> Void
  ) {
    self.name = name
    self.files = files
    self.classNames = classNames
    self.exampleShape = exampleShape
    self.decode = decode
  }

  public var count: Int { files.count }

  /// The files at `indices` only.
  public func subset(_ indices: [Int]) -> ImageFolderSource {
    var copy = self
    copy.files = files.subset(indices)
    return copy
  }

  public func batchIndices(size: Int, shuffle: Bool, dropLast: Bool, using g: inout SeededGenerator) -> [[Int]] {
    precondition(size > 0, "batch size must be positive, got \(size)")
    let order = shuffle ? SeededSplit.permutation(count, using: &g) : Array(0..<count)
    let whole = dropLast ? count / size * size : count
    return stride(from: 0, to: whole, by: size).map { Array(order[$0..<min($0 + size, count)]) }
  }

  public func stream(_ indexBatches: [[Int]], skipped: @escaping @Sendable (String) -> Void) -> BatchStream {
    let files = self.files, decode = self.decode
    let decoder = PrefetchingDecoder(
      indexBatches: indexBatches, exampleShape: exampleShape, prefetch: prefetch, threads: threads,
      label: { files.label($0) }, decode: { try decode(files.path($0), $1) })
    decoder.start()
    return BatchStream(stop: decoder.cancel) {
      guard let (batch, messages) = try decoder.next() else { return nil }
      messages.forEach(skipped)
      return batch
    }
  }

  public func load(_ indices: [Int], skipped: @escaping @Sendable (String) -> Void) throws -> Dataset {
    let stream = self.stream([indices], skipped: skipped)
    guard let batch = try stream.next() else {
      throw DataError("\(name): none of the \(indices.count) examples could be read")
    }
    return Dataset(name: name, inputs: batch.inputs, labels: batch.labels, classNames: classNames)
  }
}
