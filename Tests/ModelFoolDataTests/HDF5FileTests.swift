import CHDF5
import Foundation
import ModelFool
import ModelFoolData
import Testing

/// A fresh empty folder under the system temporary directory.
func makeTemporaryFolder(_ label: String) throws -> String {
  let folder = FileManager.default.temporaryDirectory
    .appendingPathComponent("modelfool-\(label)-\(UUID().uuidString)").path
  try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  return folder
}

/// Reads `error`'s one-line description (fails the test when it spans several lines).
func oneLineDescription(_ error: any Error) -> String {
  let text = String(describing: error)
  #expect(!text.contains("\n"), "error message spans several lines: \(text)")
  return text
}

@Suite struct HDF5FileTests {
  @Test func tensorRoundTripIsBitExact() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/t.h5"
    let special: [Float] = [
      0, -0.0, 1.0 / 3.0, -2.5e-38, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity, -.infinity,
    ]
    let values = (0..<24).map { i in i < special.count ? special[i] : Float(i) * 0.1 - 1.7 }
    let tensor = Tensor(shape: [2, 3, 4], scalars: values)
    let scalar = Tensor(Float(-7.25))
    do {
      let file = try HDF5File.create(path)
      try file.writeTensor(tensor, at: "features/3/weight")
      try file.writeTensor(scalar, at: "/features/3/scale")
      try file.write([1, 2, 3], shape: [3], at: "classifier/bias")
      try file.close()
    }
    let file = try HDF5File.open(path)
    let back = try file.readTensor(at: "features/3/weight")
    #expect(back.shape == [2, 3, 4])
    #expect(back.scalars.map(\.bitPattern) == values.map(\.bitPattern))
    let backScalar = try file.readTensor(at: "features/3/scale")
    #expect(backScalar.shape == [])
    #expect(backScalar.scalars == [-7.25])
    #expect(try file.datasetPaths() == ["classifier/bias", "features/3/scale", "features/3/weight"])
    #expect(file.exists("features/3") && file.exists("/features/3/weight"))
    #expect(file.isDataset("features/3/weight") && !file.isDataset("features/3"))
    #expect(!file.exists("features/4") && !file.exists("features/3/weight/x"))
    #expect(try file.shape(at: "classifier/bias") == [3])
  }

  @Test func parameterNamesMapToGroups() {
    #expect(HDF5File.datasetPath(forParameter: "features.3.weight") == "features/3/weight")
    #expect(HDF5File.parameterName(forDatasetPath: "/_blocks/0/_bn0/running_mean") == "_blocks.0._bn0.running_mean")
  }

  @Test func stringAttributesOnRootAndDatasets() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/a.h5"
    do {
      let file = try HDF5File.create(path)
      try file.write([1, 2], shape: [2], at: "layer/weight")
      try file.setAttribute("architecture", to: "vgg16")
      try file.setAttribute("architecture", to: "efficientnet-lite0")  // replaced
      try file.setAttribute("class_names", to: "[\"tench\",\"café ☕\"]")
      try file.setAttribute("empty", to: "")
      try file.setAttribute("role", to: "parameter", at: "layer/weight")
      try file.close()
    }
    let file = try HDF5File.open(path)
    #expect(try file.stringAttribute("architecture") == "efficientnet-lite0")
    #expect(try file.stringAttribute("class_names") == "[\"tench\",\"café ☕\"]")
    #expect(try file.stringAttribute("empty") == "")
    #expect(try file.stringAttribute("role", at: "layer/weight") == "parameter")
    #expect(try file.attributeNames() == ["architecture", "class_names", "empty"])
    #expect(file.hasAttribute("role", at: "layer/weight") && !file.hasAttribute("role"))
    let error = #expect(throws: DataError.self) { try file.stringAttribute("missing") }
    #expect(error.map(oneLineDescription) == "\(path): no attribute 'missing' on '/'")
  }

  @Test func integerAndByteDatasetsWithRowRanges() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/i.h5"
    let pixels: [UInt8] = (0..<48).map { (i: Int) -> UInt8 in UInt8((i * 37) % 256) }
    do {
      let file = try HDF5File.create(path)
      try file.write(pixels, shape: [4, 2, 2, 3], at: "images")
      try file.write([3, -1, 999, 0], shape: [4], at: "labels")
      try file.close()
    }
    let file = try HDF5File.open(path)
    let all = try file.readUInt8(at: "images")
    #expect(all.shape == [4, 2, 2, 3] && all.values == pixels)
    let middle = try file.readUInt8(at: "images", rows: 1..<3)
    #expect(middle.shape == [2, 2, 2, 3] && middle.values == Array(pixels[12..<36]))
    #expect(try file.readInts(at: "labels").values == [3, -1, 999, 0])
    #expect(try file.readInts(at: "labels", rows: 2..<4).values == [999, 0])
    // Any integer type also reads as Float.
    #expect(try file.readFloats(at: "labels").values == [3, -1, 999, 0])
    #expect(try file.readFloats(at: "images", rows: 0..<1).values == pixels[0..<12].map(Float.init))
    // Wrong kinds are reported, on one line, with the stored type.
    let error = #expect(throws: DataError.self) { try file.readUInt8(at: "labels") }
    #expect(error.map(oneLineDescription) == "\(path): 'labels' is not an 8-bit integer dataset (stored type: 64-bit integer)")
    #expect(throws: DataError.self) { try file.readInts(at: "images", rows: 3..<5) }
  }

  @Test func float64DatasetReadsAsFloat() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/d.h5"
    // Write a float64 dataset with the C library directly, as h5py does for numpy float64 arrays.
    let doubles: [Double] = [0.1, -2.5, 1e300, 3.000000001, 1.0 / 3.0, 16_777_217]
    let fileID = H5Fcreate(path, mf_h5f_acc_trunc(), mf_h5p_default(), mf_h5p_default())
    #expect(fileID >= 0)
    var dims: [hsize_t] = [2, 3]
    let space = H5Screate_simple(2, &dims, nil)
    let dataset = H5Dcreate2(fileID, "x", mf_h5t_native_double(), space, mf_h5p_default(), mf_h5p_default(), mf_h5p_default())
    #expect(H5Dwrite(dataset, mf_h5t_native_double(), mf_h5s_all(), mf_h5s_all(), mf_h5p_default(), doubles) >= 0)
    H5Dclose(dataset)
    H5Sclose(space)
    H5Fclose(fileID)

    let file = try HDF5File.open(path)
    let (shape, values) = try file.readFloats(at: "x")
    #expect(shape == [2, 3])
    #expect(values == [0.1, -2.5, .infinity, 3.0, 1.0 / 3.0, 16_777_216])
    #expect(values.map(\.bitPattern) == doubles.map { Float($0).bitPattern })
  }

  @Test func errorsAreOneLineAndNameTheFile() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let missing = folder + "/missing.h5"
    var error = #expect(throws: DataError.self) { try HDF5File.open(missing) }
    #expect(error.map(oneLineDescription) == "\(missing): file not found")

    let garbage = folder + "/garbage.h5"
    try Data(repeating: 0x42, count: 4096).write(to: URL(fileURLWithPath: garbage))
    error = #expect(throws: DataError.self) { try HDF5File.open(garbage) }
    #expect(error.map(oneLineDescription) == "\(garbage): not an HDF5 file")

    let good = folder + "/good.h5"
    do {
      let file = try HDF5File.create(good)
      try file.write([Float](repeating: 1.5, count: 10_000), shape: [100, 100], at: "w")
      try file.close()
    }
    let file = try HDF5File.open(good)
    error = #expect(throws: DataError.self) { try file.readFloats(at: "features/0/weight") }
    #expect(error.map(oneLineDescription) == "\(good): no dataset 'features/0/weight'")
    error = #expect(throws: DataError.self) { try file.readFloats(at: "/") }
    #expect(error.map(oneLineDescription) == "\(good): '/' is a group, not a dataset")
    try file.close()

    let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
    let truncated = folder + "/truncated.h5"
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
    error = #expect(throws: DataError.self) { try HDF5File.open(truncated) }
    let message = error.map(oneLineDescription) ?? ""
    #expect(message.hasPrefix("\(truncated): cannot open HDF5 file, corrupt or truncated ("), "\(message)")
    #expect(message.contains("truncated file"), "\(message)")
  }

  @Test func atomicWriteKeepsOldFileWhenBodyThrows() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/model.h5"
    try HDF5File.writeAtomically(to: path) { file in try file.write([1, 2, 3], shape: [3], at: "w") }
    struct Interrupted: Error {}
    #expect(throws: Interrupted.self) {
      try HDF5File.writeAtomically(to: path) { file in
        try file.write([9, 9, 9, 9], shape: [4], at: "w")
        throw Interrupted()
      }
    }
    #expect(try HDF5File.open(path).readFloats(at: "w").values == [1, 2, 3])
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["model.h5"])
    try HDF5File.writeAtomically(to: path) { file in try file.write([4, 5], shape: [2], at: "w") }
    #expect(try HDF5File.open(path).readFloats(at: "w").values == [4, 5])
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["model.h5"])
    let error = #expect(throws: DataError.self) {
      try HDF5File.writeAtomically(to: folder + "/no/such/dir/m.h5") { _ in }
    }
    #expect(error.map(oneLineDescription) == "\(folder)/no/such/dir/m.h5: folder \(folder)/no/such/dir does not exist")
  }

  /// Attributes are fixed-length strings of exactly their byte count (nothing in the global heap).
  @Test func attributesAreFixedLength() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/a.h5"
    let file = try HDF5File.create(path)
    try file.write([1], shape: [1], at: "x")
    try file.setAttribute("text", to: "grüße, 1")
    try file.setAttribute("empty", to: "")
    try file.setAttribute("crc32", to: "0badf00d", at: "x")
    #expect(try file.stringAttribute("text") == "grüße, 1")
    #expect(try file.stringAttribute("empty") == "")
    #expect(try file.stringAttribute("crc32", at: "x") == "0badf00d")
    try file.close()
    let id = H5Fopen(path, mf_h5f_acc_rdonly(), mf_h5p_default())
    defer { H5Fclose(id) }
    let attribute = H5Aopen(id, "text", mf_h5p_default())
    defer { H5Aclose(attribute) }
    let type = H5Aget_type(attribute)
    defer { H5Tclose(type) }
    #expect(H5Tis_variable_str(type) == 0 && H5Tget_size(type) == "grüße, 1".utf8.count)
  }

  /// A sealed file's first 512 bytes hold its length and CRC-32, checked before libhdf5 reads it.
  @Test func sealsDetectDamageTruncationAndGrowth() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let plain = folder + "/plain.h5", sealed = folder + "/sealed.h5"
    try HDF5File.writeAtomically(to: plain) { try $0.write([1, 2, 3], shape: [3], at: "w") }
    try HDF5File.writeAtomically(to: sealed, sealed: true) { try $0.write([1, 2, 3], shape: [3], at: "w") }
    #expect(try HDF5File.verifySeal(plain) == false)
    #expect(try HDF5File.verifySeal(sealed))
    #expect(try HDF5File.open(sealed).readFloats(at: "w").values == [1, 2, 3])
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: sealed)))
    #expect(String(decoding: bytes.prefix(24), as: UTF8.self) == "modelfool-sealed-hdf5 1\n")
    let copy = folder + "/copy.h5"
    func check(_ damaged: [UInt8], _ expected: String) throws {
      try Data(damaged).write(to: URL(fileURLWithPath: copy))
      let error = #expect(throws: DataError.self) { try HDF5File.verifySeal(copy) }
      #expect(error.map(oneLineDescription) == "\(copy): \(expected)")
    }
    var flipped = bytes
    flipped[bytes.count - 3] ^= 0x01
    try check(flipped, "damaged, its bytes fail the checksum written with them")
    try check(Array(bytes.dropLast(1)), "truncated to \(bytes.count - 1) bytes, it was written with \(bytes.count)")
    try check(bytes + [0], "extended to \(bytes.count + 1) bytes, it was written with \(bytes.count)")
    var seal = bytes
    seal[40] ^= 0x01
    try check(seal, "its seal (the checksum in its first 512 bytes) is damaged")
    try check(Array(bytes.prefix(100)), "truncated inside its seal (100 bytes)")
  }

  /// Only regular files are replaced; errors give the system's reason, lower-cased.
  @Test func atomicWriteRefusesDevicesAndFIFOs() throws {
    let folder = try makeTemporaryFolder("h5")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var error = #expect(throws: DataError.self) { try AtomicFile.write(to: "/dev/full") { _ in } }
    #expect(error.map(oneLineDescription) == "refusing to replace /dev/full: it is a device, not a regular file")
    let fifo = folder + "/pipe.h5"
    #expect(mkfifo(fifo, 0o644) == 0)
    error = #expect(throws: DataError.self) { try HDF5File.writeAtomically(to: fifo) { try $0.write([1], shape: [1], at: "w") } }
    #expect(error.map(oneLineDescription) == "refusing to replace \(fifo): it is a FIFO, not a regular file")
    try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: false)
    error = #expect(throws: DataError.self) { try AtomicFile.write(to: folder + "/sub") { _ in } }
    #expect(error.map(oneLineDescription) == "refusing to replace \(folder)/sub: it is a folder, not a regular file")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["pipe.h5", "sub"])
    #expect(AtomicFile.reason(errno: EROFS) == "read-only file system" && AtomicFile.reason(errno: ENOSPC) == "no space left on device")
    // While a write is under way its temporary file is listed for a signal handler.
    try AtomicFile.write(to: folder + "/x.txt") { temporary in
      #expect(TemporaryPaths.registered.contains(temporary))
      try Data("x".utf8).write(to: URL(fileURLWithPath: temporary))
    }
    #expect(!TemporaryPaths.registered.contains { $0.hasPrefix(folder) })
  }
}
