import Foundation
import ModelFool

/// Loaders for ImageNet-style image classification data, all giving a `Dataset` of inputs
/// `[N, 3, H, W]` (after an `ImagePreprocessing`), integer labels and class names.
///
/// Three sources:
/// - the shipped sample (`datasets/imagenet-sample`: 20 photos `imagenet_NN_LABEL.jpg` from
///   foolbox 3.3.4 and the 1,000 names of `imagenet1k_clean_names.json`);
/// - a folder in the standard layout, one subfolder per class holding JPEG/PNG files, with a
///   class-index file mapping subfolder names (WordNet ids) to label indices;
/// - an HDF5 file with `images` (uint8, `N x H x W x 3`, RGB) and `labels` (integers, `N`).
public enum ImageNetDataset {
  /// One image file and its label.
  public struct Item: Sendable, Hashable {
    /// Path of the image file.
    public var path: String
    /// Class index.
    public var label: Int
  }

  /// One ImageNet class: WordNet id (`n01440764`) and readable name (`tench`).
  public struct ClassEntry: Sendable, Hashable {
    /// WordNet synset id, the subfolder name in the standard layout.
    public var wordNetID: String
    /// Human-readable name.
    public var name: String
  }

  // MARK: The shipped sample

  /// The sample's image files `imagenet_NN_LABEL.jpg` in `folder`, ordered by NN, labels from
  /// the names.
  public static func sampleItems(folder: String) throws -> [Item] {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: folder)
    } catch {
      throw DataError("\(folder): ImageNet sample folder not found")
    }
    var items: [(index: Int, item: Item)] = []
    for name in names where name.hasPrefix("imagenet_") && name.hasSuffix(".jpg") {
      let parts = name.dropLast(4).split(separator: "_")
      guard parts.count == 3, let index = Int(parts[1]), let label = Int(parts[2]) else {
        throw DataError("\(folder)/\(name): expected a name like imagenet_NN_LABEL.jpg")
      }
      items.append((index, Item(path: folder + "/" + name, label: label)))
    }
    guard !items.isEmpty else { throw DataError("\(folder): no imagenet_NN_LABEL.jpg files") }
    return items.sorted { $0.index < $1.index }.map(\.item)
  }

  /// Loads the shipped sample as the dataset "imagenet-sample": inputs `[20, 3, 224, 224]`
  /// with the default pipeline, labels from the file names, the 1,000 class names from
  /// `imagenet1k_clean_names.json` in the same folder.
  public static func loadSample(folder: String, preprocessing: ImagePreprocessing = .unitRange) throws -> Dataset {
    let items = try sampleItems(folder: folder)
    let classNames = try loadClassNames(folder + "/imagenet1k_clean_names.json")
    if let bad = items.first(where: { $0.label >= classNames.count }) {
      throw DataError("\(bad.path): label \(bad.label) is not one of the \(classNames.count) classes")
    }
    let inputs = try loadImages(items.map(\.path), preprocessing: preprocessing)
    return Dataset(name: "imagenet-sample", inputs: inputs, labels: items.map(\.label), classNames: classNames)
  }

  // MARK: Class lists

  /// Reads class names from JSON: a list of names (`["tench", "goldfish", ...]`, as
  /// `imagenet1k_clean_names.json`) or a class index `{"0": ["n01440764", "tench"], ...}`
  /// (Keras' `imagenet_class_index.json`), giving names in label order.
  public static func loadClassNames(_ path: String) throws -> [String] {
    let json = try readJSON(path)
    if let list = json as? [String] { return list }
    return try parseClassIndex(json, path: path).map(\.name)
  }

  /// Reads a class index, in label order, from `imagenet_class_index.json`
  /// (`{"0": ["n01440764", "tench"], ...}`) or a `LOC_synset_mapping.txt`-style text file (one
  /// `n01440764 tench, Tinca tinca` line per class, in label order; the name is the text up to
  /// the first comma).
  public static func loadClassIndex(_ path: String) throws -> [ClassEntry] {
    if path.lowercased().hasSuffix(".json") { return try parseClassIndex(try readJSON(path), path: path) }
    let text = try InputFile.text(path, maxBytes: maxClassIndexBytes, maxLineBytes: InputFile.defaultMaxLineBytes)
    var entries: [ClassEntry] = []
    for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty { continue }
      let parts = trimmed.split(separator: " ", maxSplits: 1)
      guard parts.count == 2 else {
        throw DataError("\(path): line \(number + 1) is not 'WNID name'")
      }
      let name = parts[1].split(separator: ",").first.map(String.init) ?? String(parts[1])
      entries.append(ClassEntry(wordNetID: String(parts[0]), name: name.trimmingCharacters(in: .whitespaces)))
    }
    guard !entries.isEmpty else { throw DataError("\(path): no classes") }
    try checkDistinctWordNetIDs(entries, path: path)
    return entries
  }

  // MARK: A folder per class

  /// The image files of a standard-layout folder (`root/<WNID>/*.{jpg,jpeg,png}`), ordered by
  /// label then file name, at most `limitPerClass` per class. The classes follow the rule of
  /// every ImageNet-layout reader (``ILSVRCFolder``): `classIndex`, else an
  /// `imagenet_class_index.json` or `LOC_synset_mapping.txt` in `root` then in its parent, else
  /// the sorted subfolder names. Files named like images that are not regular files (FIFOs,
  /// devices, sockets) are skipped without being opened, with one line to `log` counting them.
  /// Returns the items and the class names by label.
  public static func folderItems(
    root: String, classIndex: String? = nil, limitPerClass: Int? = nil,
    log: (String) -> Void
  ) throws -> (items: [Item], classNames: [String]) {
    guard ILSVRCFolder.isFolder(root) else { throw DataError("\(root): image folder not found") }
    let subfolders = try ILSVRCFolder.listing(root).filter { ILSVRCFolder.isFolder(root + "/" + $0) }
    guard !subfolders.isEmpty else { throw DataError("\(root): no class subfolders") }
    let (wnids, classNames) = try ILSVRCFolder.classes(
      indexIn: [root, (root as NSString).deletingLastPathComponent], classIndex: classIndex, folders: [root])
    var labelOf: [String: Int] = [:]
    for (label, wnid) in wnids.enumerated() { labelOf[wnid] = label }
    var table = ImageFileTable(root: root)
    var skipped: [String] = []
    try ILSVRCFolder.classFolderFiles(
      root, folders: subfolders, prefix: "", labelOf: labelOf, classes: wnids.count, limitPerClass: limitPerClass,
      into: &table, skipped: &skipped)
    InputFile.reportSkipped(skipped, under: root, log: log)
    guard table.count > 0 else { throw DataError("\(root): no JPEG or PNG files in the class subfolders") }
    let items = (0..<table.count).map { Item(path: table.path($0), label: table.label($0)) }
      .sorted { ($0.label, $0.path) < ($1.label, $1.path) }
    return (items, classNames)
  }

  /// Loads a standard-layout folder (see `folderItems`) as a dataset named `name`.
  public static func loadFolder(
    root: String, classIndex: String? = nil, limitPerClass: Int? = nil,
    preprocessing: ImagePreprocessing = .unitRange, name: String = "imagenet-folder",
    log: (String) -> Void
  ) throws -> Dataset {
    let (items, classNames) = try folderItems(root: root, classIndex: classIndex, limitPerClass: limitPerClass, log: log)
    let inputs = try loadImages(items.map(\.path), preprocessing: preprocessing)
    return Dataset(name: name, inputs: inputs, labels: items.map(\.label), classNames: classNames)
  }

  // MARK: HDF5

  /// Loads `images` (uint8, `N x H x W x 3`, RGB) and `labels` (integers, `N`) from an HDF5
  /// file, optionally only the examples in `rows`. Images already of the crop size
  /// (`H == W == preprocessing.centerCrop`) are only value-mapped (divisor, mean, std); others go
  /// through the whole pipeline. Class names: `classNames` if given, else the root attribute
  /// `class_names` (a JSON list of strings) if present, else `"0"`, `"1"`, ... up to the
  /// largest label.
  public static func loadHDF5(
    _ path: String, preprocessing: ImagePreprocessing = .unitRange, classNames: [String]? = nil,
    rows: Range<Int>? = nil, name: String = "imagenet-hdf5"
  ) throws -> Dataset {
    let file = try HDF5File.open(path)
    try ImageBudget.checkImageStack(shape: try file.shape(at: "images"), rows: rows, source: path)
    let (shape, pixels) = try file.readUInt8(at: "images", rows: rows)
    guard shape.count == 4, shape[3] == 3 else {
      throw DataError("\(path): 'images' must be N x H x W x 3 uint8 RGB, found shape \(shape)")
    }
    let labels = try file.readInts(at: "labels", rows: rows).values
    guard labels.count == shape[0] else {
      throw DataError("\(path): \(labels.count) labels for \(shape[0]) images")
    }
    if let bad = labels.first(where: { $0 < 0 }) { throw DataError("\(path): negative label \(bad)") }
    var names: [String]
    if let classNames {
      names = classNames
    } else if file.hasAttribute("class_names") {
      let text = try file.stringAttribute("class_names")
      guard let list = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else {
        throw DataError("\(path): attribute 'class_names' is not a JSON list of strings")
      }
      names = list
    } else {
      names = (0...(labels.max() ?? 0)).map(String.init)
    }
    if let bad = labels.first(where: { $0 >= names.count }) {
      throw DataError("\(path): label \(bad) is not one of the \(names.count) classes")
    }
    let (count, height, width) = (shape[0], shape[1], shape[2])
    var steps = preprocessing
    if preprocessing.centerCrop == height, height == width {
      steps.resizeShorterSide = nil
      steps.centerCrop = nil
    }
    let imageBytes = height * width * 3
    var images: [(rgb: [UInt8], width: Int, height: Int)] = []
    images.reserveCapacity(count)
    for n in 0..<count {
      let slice = Array(pixels[(n * imageBytes)..<((n + 1) * imageBytes)])
      images.append(try steps.geometry(rgb: slice, width: width, height: height, source: "\(path) image \(n)"))
    }
    let inputs = try stack(images, preprocessing: steps, source: path)
    return Dataset(name: name, inputs: inputs, labels: labels, classNames: names)
  }

  /// Writes a dataset's source images in the HDF5 layout `loadHDF5` reads: `images` uint8
  /// `N x H x W x 3` (after resize/crop, before value mapping) and `labels` int64, plus the
  /// `class_names` root attribute. Written atomically.
  public static func writeHDF5(
    images: [(rgb: [UInt8], width: Int, height: Int)], labels: [Int], classNames: [String], to path: String
  ) throws {
    guard let first = images.first, images.count == labels.count else {
      throw DataError("\(path): need one label per image and at least one image")
    }
    guard images.allSatisfy({ $0.width == first.width && $0.height == first.height }) else {
      throw DataError("\(path): all images must have the same size to be stacked")
    }
    let names = String(decoding: try JSONSerialization.data(withJSONObject: classNames), as: UTF8.self)
    try HDF5File.writeAtomically(to: path) { file in
      try file.write(images.flatMap(\.rgb), shape: [images.count, first.height, first.width, 3], at: "images")
      try file.write(labels, shape: [labels.count], at: "labels")
      try file.setAttribute("class_names", to: names)
    }
  }

  // MARK: Internals

  /// Decodes and preprocesses image files into one `[N, 3, H, W]` tensor.
  public static func loadImages(_ paths: [String], preprocessing: ImagePreprocessing) throws -> Tensor {
    var images: [(rgb: [UInt8], width: Int, height: Int)] = []
    images.reserveCapacity(paths.count)
    for path in paths {
      let image = try ImageFile.read(path)
      images.append(try preprocessing.geometry(rgb: image.rgb, width: image.width, height: image.height, source: path))
    }
    return try stack(images, preprocessing: preprocessing, source: paths.first ?? "images")
  }

  private static func stack(
    _ images: [(rgb: [UInt8], width: Int, height: Int)], preprocessing: ImagePreprocessing, source: String
  ) throws -> Tensor {
    guard let first = images.first else { throw DataError("\(source): no images") }
    guard images.allSatisfy({ $0.width == first.width && $0.height == first.height }) else {
      throw DataError("\(source): images differ in size after preprocessing; set a centre crop")
    }
    let plane = 3 * first.width * first.height
    let storage = TensorStorage(uninitializedCount: images.count * plane)
    for (n, image) in images.enumerated() {
      preprocessing.normalize(rgb: image.rgb, width: image.width, height: image.height, into: storage.pointer + n * plane)
    }
    return Tensor(shape: [images.count, 3, first.height, first.width], storage: storage)
  }

  /// The byte limit of a class list or class index (ImageNet's is about 40 KB).
  public static let maxClassIndexBytes = 4 << 20

  private static func readJSON(_ path: String) throws -> Any {
    try InputFile.json(path, maxBytes: maxClassIndexBytes)
  }

  /// A class index `{"0": ["WNID", "name"], ...}`: keys exactly the decimals `0` ..< n written
  /// plainly (no "01" beside "1", no sign), each value a pair of strings, every wnid once.
  private static func parseClassIndex(_ json: Any, path: String) throws -> [ClassEntry] {
    guard let table = json as? [String: Any] else {
      throw DataError("\(path): expected a list of names or {\"0\": [\"n01440764\", \"tench\"], ...}")
    }
    var entries = [ClassEntry?](repeating: nil, count: table.count)
    for (key, value) in table {
      guard let index = Int(key), index >= 0, index < table.count, String(index) == key else {
        throw DataError("\(path): class index key '\(key)' is not one of 0 ..< \(table.count) written plainly")
      }
      guard let pair = value as? [String], pair.count == 2 else {
        throw DataError("\(path): class \(key) must be [\"WNID\", \"name\"]")
      }
      entries[index] = ClassEntry(wordNetID: pair[0], name: pair[1])
    }
    let result = entries.map { $0! }  // n distinct keys in 0 ..< n: every slot is filled
    try checkDistinctWordNetIDs(result, path: path)
    return result
  }

  /// Throws when two classes of a class index share a wnid (the second would be unreachable).
  static func checkDistinctWordNetIDs(_ entries: [ClassEntry], path: String) throws {
    var seen: [String: Int] = [:]
    for (label, entry) in entries.enumerated() {
      if let first = seen.updateValue(label, forKey: entry.wordNetID) {
        throw DataError("\(path): wnid \(entry.wordNetID) is given to classes \(first) and \(label)")
      }
    }
  }
}
