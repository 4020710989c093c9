// Implementation note: the NumPy `.npy` format, version 1.0 (numpy/lib/format.py, NEP 1): the
// six bytes "\x93NUMPY", the version bytes 1 and 0, the header length as a little-endian UInt16,
// then an ASCII Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
// padded with spaces and ended by "\n" so that the data starts at a multiple of 64 bytes, then the
// values in C (row-major) order. Only the two element types the CLI writes are supported.

import Foundation
import ModelFool

/// One named array to save: Float32 values (tensors) or Int64 values (classes, labels).
public struct NamedArray: Sendable {
  /// The element values.
  public enum Values: Sendable, Equatable {
    /// Float32, written `<f4` (NPY) or `H5T_NATIVE_FLOAT` little-endian (HDF5).
    case float([Float])
    /// Int64, written `<i8`.
    case int([Int])

    var count: Int {
      switch self {
      case .float(let v): return v.count
      case .int(let v): return v.count
      }
    }
  }

  /// The name: an HDF5 dataset path, or a part of an `.npy` file name (letters, digits, `_`, `-`).
  public var name: String
  /// Row-major shape (`[]` for a scalar).
  public var shape: [Int]
  /// The values, `shape.reduce(1, *)` of them.
  public var values: Values

  /// An array called `name` with `values` of `shape`.
  public init(name: String, shape: [Int], values: Values) {
    self.name = name
    self.shape = shape
    self.values = values
  }

  /// The values and shape of `tensor` (detached).
  public init(name: String, tensor: Tensor) {
    self.init(name: name, shape: tensor.shape, values: .float(tensor.scalars))
  }

  /// A one-dimensional Int64 array of `ints`.
  public init(name: String, ints: [Int]) {
    self.init(name: name, shape: [ints.count], values: .int(ints))
  }
}

/// Writes NumPy `.npy` files (format version 1.0), readable with `numpy.load`.
public enum NPYFile {
  /// The complete bytes of an `.npy` file holding `array`.
  ///
  /// - Throws: a one-line `DataError` when the shape does not match the number of values.
  public static func encode(_ array: NamedArray) throws -> [UInt8] {
    try check(array)
    let descr: String
    switch array.values {
    case .float: descr = "<f4"
    case .int: descr = "<i8"
    }
    let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
    var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
    // 10 bytes of preamble + header + padding + "\n" = a multiple of 64.
    let unpadded = 10 + header.count + 1
    header += Array(repeating: UInt8(ascii: " "), count: (64 - unpadded % 64) % 64)
    header.append(UInt8(ascii: "\n"))
    guard header.count <= Int(UInt16.max) else { throw DataError("\(array.name): shape \(array.shape) is too long for an .npy header") }
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
    bytes += header
    switch array.values {
    case .float(let v):
      bytes.reserveCapacity(bytes.count + 4 * v.count)
      for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
    case .int(let v):
      bytes.reserveCapacity(bytes.count + 8 * v.count)
      for x in v { withUnsafeBytes(of: Int64(x).littleEndian) { bytes += $0 } }
    }
    return bytes
  }

  /// Writes `array` to `path` atomically (a temporary file renamed into place).
  public static func write(_ array: NamedArray, to path: String) throws {
    let bytes = try encode(array)
    try AtomicFile.write(to: path) { temporary in
      guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
        throw DataError("\(path): cannot write (\(String(cString: strerror(errno))))")
      }
    }
  }

  static func check(_ array: NamedArray) throws {
    guard array.shape.allSatisfy({ $0 >= 0 }), array.shape.reduce(1, *) == array.values.count else {
      throw DataError("\(array.name): shape \(array.shape) does not hold \(array.values.count) values")
    }
  }
}

/// Saves several named arrays in one go, in the format the file extension names.
///
/// - `.h5`: one HDF5 file, one dataset per array at its name (`h5py.File(path)["heatmaps"][...]`),
///   written atomically.
/// - `.npy`: one NumPy file per array, as `.npy` holds one array: the first array goes to `path`,
///   each other one to the sibling `STEM.NAME.npy` (`maps.npy`, `maps.raw.npy`, ...).
public enum ArrayExport {
  /// The files `save(_:to:)` writes for `arrays` at `path`, in order.
  ///
  /// - Throws: a one-line `DataError` for an extension other than `.h5` or `.npy`, or for a name
  ///   that cannot be part of a file name (with `.npy`).
  public static func files(for arrays: [NamedArray], at path: String) throws -> [String] {
    if path.hasSuffix(".h5") { return [path] }
    guard path.hasSuffix(".npy") else {
      throw DataError("\(path): the file name must end in .h5 or .npy")
    }
    let stem = String(path.dropLast(4))
    return try arrays.enumerated().map { i, a in
      guard !a.name.isEmpty, a.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
        throw DataError("'\(a.name)': an array name in an .npy file name may hold only letters, digits, _ and -")
      }
      return i == 0 ? path : "\(stem).\(a.name).npy"
    }
  }

  /// Writes `arrays` to `path` (`.h5` or `.npy`; see the type's summary), creating its folder
  /// when missing, and returns the files written. Each file is written atomically; an existing
  /// good file is never left half-written.
  @discardableResult
  public static func save(_ arrays: [NamedArray], to path: String) throws -> [String] {
    let paths = try files(for: arrays, at: path)
    for a in arrays { try NPYFile.check(a) }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DataError("\(path): cannot create the folder \(folder): \(AtomicFile.reason(error))")
    }
    if path.hasSuffix(".h5") {
      try HDF5File.writeAtomically(to: path) { file in
        for a in arrays {
          switch a.values {
          case .float(let v): try file.write(v, shape: a.shape, at: a.name)
          case .int(let v): try file.write(v, shape: a.shape, at: a.name)
          }
        }
      }
    } else {
      // All or nothing: every file is written under a temporary name beside its destination,
      // and only when all are written are they renamed into place.
      var staged: [(temporary: String, path: String)] = []
      defer {
        for s in staged {
          unlink(s.temporary)
          TemporaryPaths.unregister(s.temporary)
        }
      }
      for (a, p) in zip(arrays, paths) {
        let url = URL(fileURLWithPath: p)
        let temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".part-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        TemporaryPaths.register(temporary)
        staged.append((temporary, p))
        do { try NPYFile.write(a, to: temporary) } catch let error as DataError {
          throw DataError(error.description.replacingOccurrences(of: temporary, with: p), settings: error.settings)
        }
      }
      for s in staged { try AtomicFile.checkReplaceable(s.path, allowingFolder: false) }
      for s in staged where rename(s.temporary, s.path) != 0 {
        throw DataError("cannot write \(s.path): \(AtomicFile.reason(errno: errno))")
      }
    }
    return paths
  }
}
