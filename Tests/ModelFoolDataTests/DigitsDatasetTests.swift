import Foundation
import ModelFool
import ModelFoolData
import Testing

@Suite struct DigitsDatasetTests {
  @Test func allImagesInFileOrder() throws {
    let all = try DigitsDataset.loadAll(root: ShippedDatasets.root)
    #expect(all.count == 5000)
    #expect(all.inputs.shape == [5000, 1, 28, 28])
    #expect(all.classNames == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    for d in 0..<10 { #expect(all.labels.filter { $0 == d }.count == 500) }
    // First record: label 0 (last field); first non-zero pixels at flat positions 127...131
    // (row 4, columns 15...19) are 51, 159, 253, 159, 50; its 784 pixels sum to 31,095.
    #expect(all.labels[0] == 0 && all.labels[4999] == 9)
    let x = all.inputs.scalars
    #expect(x[126] == 0)
    #expect(Array(x[127...131]) == [51, 159, 253, 159, 50].map { Float($0) / 255 })
    #expect(abs(x[0..<784].reduce(0, +) * 255 - 31095) < 0.05)
    #expect(abs(x[(4999 * 784)..<(5000 * 784)].reduce(0, +) * 255 - 33540) < 0.05)
    #expect(x.min() == 0 && x.max() == 1)
  }

  @Test func fixedStratifiedSplit() throws {
    let split = try DigitsDataset.load(root: ShippedDatasets.root)
    #expect(split.train.count == 4000 && split.test.count == 1000)
    #expect(split.train.inputs.shape == [4000, 1, 28, 28] && split.test.inputs.shape == [1000, 1, 28, 28])
    for d in 0..<10 {
      #expect(split.test.labels.filter { $0 == d }.count == 100)
      #expect(split.train.labels.filter { $0 == d }.count == 400)
    }
    // Train and test together hold every image exactly once: the pixel totals add up.
    let all = try DigitsDataset.loadAll(root: ShippedDatasets.root)
    let total = all.inputs.scalars.reduce(0.0) { $0 + Double($1) }
    let parts = (split.train.inputs.scalars + split.test.inputs.scalars).reduce(0.0) { $0 + Double($1) }
    #expect(abs(total - parts) < 1e-3)
    // Reproducible: the same seed gives the same split (pinned first test indices).
    let (_, test) = SeededSplit.stratified(labels: all.labels, testFraction: 0.2, seed: 0)
    #expect(split.test.inputs.scalars[0..<784] == all.inputs.scalars[(test[0] * 784)..<(test[0] * 784 + 784)])
    #expect(Array(test.prefix(5)) == Self.pinnedFirstTestIndices)
  }

  /// First five test indices of `SeededSplit.stratified(seed: 0)` on the digits labels.
  static let pinnedFirstTestIndices = [14, 23, 25, 30, 35]

  @Test func truncatedFileGivesOneLineError() throws {
    let whole = ShippedDatasets.bytes("digits/mnist_5k.csv.gz")
    let root = try ShippedDatasets.temporaryFolder("digits")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let path = try ShippedDatasets.write(Array(whole.prefix(100_000)), to: root, "digits/mnist_5k.csv.gz")
    let m = ShippedDatasets.dataErrorMessage { _ = try DigitsDataset.load(root: root) }
    #expect(m == "\(path): corrupt gzip data (unexpected end of file)")
  }

  @Test func wrongWidthAndBadPixel() throws {
    let root = try ShippedDatasets.temporaryFolder("digits-shape")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let path = root + "/digits/mnist_5k.csv.gz"
    try FileManager.default.createDirectory(atPath: root + "/digits", withIntermediateDirectories: true)
    try Self.gzipWrite("1,2,3\n4,5,6\n", to: path)
    #expect(ShippedDatasets.dataErrorMessage { _ = try DigitsDataset.load(root: root) }
      == "\(path): expected 785 columns (784 pixels + label), found 3")
    try Self.gzipWrite(Array(repeating: "0", count: 783).joined(separator: ",") + ",300,7\n", to: path)
    #expect(ShippedDatasets.dataErrorMessage { _ = try DigitsDataset.load(root: root) }
      == "\(path): line 1: pixel 783 = 300.0 outside 0...255")
  }

  /// Writes `text` gzip-compressed with the system `gzip`.
  static func gzipWrite(_ text: String, to path: String) throws {
    try? FileManager.default.removeItem(atPath: path)
    let plain = String(path.dropLast(3))
    try text.write(toFile: plain, atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["gzip", "-f", plain]
    try p.run()
    p.waitUntilExit()
  }
}
