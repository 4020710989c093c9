import Foundation
import ModelFoolData
import Testing

@Suite struct GzipTests {
  static let shipped = "digits/mnist_5k.csv.gz"

  @Test func readsTheShippedDigitsFile() throws {
    let bytes = try Gzip.read(path: ShippedDatasets.root + "/" + Self.shipped)
    // 5,000 lines of 785 comma-separated integers: 5,000 newlines, 5,000 x 784 commas.
    #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 5000)
    #expect(bytes.filter { $0 == UInt8(ascii: ",") }.count == 5000 * 784)
    #expect(bytes.prefix(4) == [48, 44, 48, 44])  // "0,0,"
  }

  @Test func truncatedFileNamesItself() throws {
    let whole = ShippedDatasets.bytes(Self.shipped)
    let folder = try ShippedDatasets.temporaryFolder("gz-trunc")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = try ShippedDatasets.write(Array(whole.prefix(whole.count / 2)), to: folder, "cut.csv.gz")
    let m = ShippedDatasets.dataErrorMessage { _ = try Gzip.read(path: path) }
    #expect(m == "\(path): corrupt gzip data (unexpected end of file)")
  }

  @Test func corruptFileNamesItself() throws {
    var bytes = ShippedDatasets.bytes(Self.shipped)
    for i in stride(from: 1000, to: 3000, by: 7) { bytes[i] ^= 0x5A }
    let folder = try ShippedDatasets.temporaryFolder("gz-bad")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = try ShippedDatasets.write(bytes, to: folder, "bad.csv.gz")
    let m = ShippedDatasets.dataErrorMessage { _ = try Gzip.read(path: path) } ?? ""
    #expect(m.hasPrefix("\(path): corrupt gzip data ("))
    #expect(!m.contains("\n"))
  }

  @Test func plainTextIsNotGzip() throws {
    let folder = try ShippedDatasets.temporaryFolder("gz-plain")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = try ShippedDatasets.write(Array("0,1,2\n".utf8), to: folder, "plain.csv.gz")
    #expect(ShippedDatasets.dataErrorMessage { _ = try Gzip.read(path: path) } == "\(path): not gzip data (no gzip header)")
    #expect(ShippedDatasets.dataErrorMessage { _ = try Gzip.read(path: folder + "/none.gz") } == "\(folder)/none.gz: file not found")
  }
}
