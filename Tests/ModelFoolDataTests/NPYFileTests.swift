import Foundation
import ModelFoolData
import Testing

@Suite struct NPYFileTests {
  /// The header text after the 10-byte preamble, without its padding and newline.
  static func header(_ bytes: [UInt8]) -> (length: Int, text: String) {
    let length = Int(bytes[8]) | Int(bytes[9]) << 8
    let text = String(decoding: bytes[10..<(10 + length)], as: UTF8.self)
    return (length, text.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  @Test func floatMatrixBytesByHand() throws {
    let bytes = try NPYFile.encode(NamedArray(name: "m", shape: [2, 3], values: .float([1, -2, 0.5, 0, 3, -0.25])))
    #expect(Array(bytes[0..<8]) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])  // "\x93NUMPY" v1.0
    let (length, text) = Self.header(bytes)
    #expect(text == "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")
    #expect((10 + length) % 64 == 0 && bytes[10 + length - 1] == 0x0A)
    #expect(bytes.count == 10 + length + 6 * 4)
    // 1.0 = 0x3F800000, -2.0 = 0xC0000000, little-endian.
    #expect(Array(bytes[(10 + length)..<(10 + length + 8)]) == [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0])
    #expect(Array(bytes.suffix(4)) == [0, 0, 0x80, 0xBE])  // -0.25 = 0xBE800000
  }

  @Test func intVectorAndScalarHeaders() throws {
    let ints = try NPYFile.encode(NamedArray(name: "labels", ints: [1, -2, 300]))
    let (length, text) = Self.header(ints)
    #expect(text == "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }")
    #expect(ints.count == 10 + length + 24)
    #expect(Array(ints[(10 + length)..<(10 + length + 16)]) == [1, 0, 0, 0, 0, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    #expect(Array(ints.suffix(8)) == [0x2C, 1, 0, 0, 0, 0, 0, 0])
    let scalar = try NPYFile.encode(NamedArray(name: "s", shape: [], values: .float([2])))
    #expect(Self.header(scalar).text == "{'descr': '<f4', 'fortran_order': False, 'shape': (), }")
    #expect(Array(scalar.suffix(4)) == [0, 0, 0, 0x40])
  }

  @Test func shapeMustHoldTheValues() {
    #expect { try NPYFile.encode(NamedArray(name: "bad", shape: [2, 2], values: .float([1, 2, 3]))) } throws: {
      "\($0)" == "bad: shape [2, 2] does not hold 3 values"
    }
  }

  @Test func npyExportWritesSiblingsAndH5OneFile() throws {
    let folder = try ShippedDatasets.temporaryFolder("npy")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let arrays = [
      NamedArray(name: "heatmaps", shape: [2, 2], values: .float([0, 0.25, 0.5, 1])),
      NamedArray(name: "labels", ints: [7, 3]),
    ]
    let npy = try ArrayExport.save(arrays, to: folder + "/maps.npy")
    #expect(npy == [folder + "/maps.npy", folder + "/maps.labels.npy"])
    #expect([UInt8](FileManager.default.contents(atPath: npy[1])!) == (try NPYFile.encode(arrays[1])))
    #expect([UInt8](FileManager.default.contents(atPath: npy[0])!) == (try NPYFile.encode(arrays[0])))

    let h5 = try ArrayExport.save(arrays, to: folder + "/maps.h5")
    #expect(h5 == [folder + "/maps.h5"])
    let file = try HDF5File.open(h5[0])
    #expect(try file.readFloats(at: "heatmaps").shape == [2, 2])
    #expect(try file.readFloats(at: "heatmaps").values == [0, 0.25, 0.5, 1])
    #expect(try file.readInts(at: "labels").values == [7, 3])
    // Only the two files: no temporary file is left behind.
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["maps.h5", "maps.labels.npy", "maps.npy"])
  }

  @Test func badExtensionAndNameAreOneLineErrors() {
    #expect { try ArrayExport.save([], to: "maps.txt") } throws: { "\($0)" == "maps.txt: the file name must end in .h5 or .npy" }
    #expect { try ArrayExport.files(for: [NamedArray(name: "a/b", ints: [1])], at: "m.npy") } throws: {
      "\($0)".contains("'a/b': an array name in an .npy file name may hold only")
    }
  }
}
