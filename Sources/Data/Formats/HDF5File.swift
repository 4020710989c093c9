// Implementation note: a thin, safe layer over the HDF5 C library (libhdf5 1.10+). Every
// public entry point first silences HDF5's automatic error printing for the calling thread
// (thread-safe builds keep one error stack per thread), checks each C return code, and turns a
// failure into a one-line `DataError` that names the file, the object path and the library's
// most specific message. Objects opened internally are closed before returning.

import CHDF5
import CZlib
import Foundation
import ModelFool

/// An open HDF5 file: Float32/UInt8/Int64 datasets at hierarchical paths and string attributes.
///
/// Paths use `/` as the only separator (a leading `/` is optional; `""` or `"/"` is the root
/// group); dots are ordinary characters here. Intermediate groups are created on write, as h5py
/// does for `f["a/b/c"] = array`. Checkpoints map a dotted parameter name to groups, one group
/// per dot-separated component (`features.3.weight` is stored at `features/3/weight`; see
/// `datasetPath(forParameter:)`), so h5py writes the same file with
/// `f[name.replace(".", "/")] = tensor.numpy().astype("float32")`.
///
/// Datasets are written contiguous, uncompressed, little-endian (`<f4`, `|u1`, `<i8`); string
/// attributes are scalar fixed-length UTF-8 strings of exactly their byte count, stored in the
/// object's header (not in the file's global heap, whose damage libhdf5 does not survive); h5py
/// reads them back as `bytes`. Reading converts any stored integer or float type, and checks every
/// size (attribute lengths, dataset ranks and shapes, element counts against the stored bytes)
/// before it allocates. A *sealed* file (``create(_:sealed:)``, ``seal(_:)``) carries a CRC-32 of
/// all its bytes in its 512-byte user block, checked by ``verifySeal(_:)`` before libhdf5 reads
/// anything. The file closes on `close()` or when the object is released. Not for concurrent use
/// of one object from several threads.
public final class HDF5File {
  /// How an existing file is opened.
  public enum Mode: Sendable {
    /// Reading only.
    case readOnly
    /// Reading and writing.
    case readWrite
  }

  /// The file's path, as given.
  public let path: String
  /// The mode it was opened with (`create` gives `.readWrite`).
  public let mode: Mode
  private var fileID: hid_t

  private init(path: String, fileID: hid_t, mode: Mode) {
    self.path = path
    self.fileID = fileID
    self.mode = mode
  }

  deinit {
    if fileID >= 0 { H5Fclose(fileID) }
  }

  // MARK: Opening and closing

  /// Runs once, before this process's first HDF5 call: libhdf5 is told not to close what is
  /// still open at exit. Every file is closed by `close()` or when its object is released; a file
  /// whose close failed (a full disk) is left half-closed by libhdf5, and closing it again from the
  /// exit handler crashed the process (SIGSEGV in libhdf5 1.10.8) after its one-line error.
  private static let library: Void = { _ = H5dont_atexit() }()

  /// Creates (or truncates) an HDF5 file for writing. A `sealed` file starts with a 512-byte user
  /// block (which libhdf5 skips) to hold the digest ``seal(_:)`` writes once it is closed, and uses
  /// the HDF5 1.8 format, whose object headers carry their own checksums.
  public static func create(_ path: String, sealed: Bool = false) throws -> HDF5File {
    _ = library
    mf_h5_silence_errors()
    var creation = mf_h5p_default(), access = mf_h5p_default()
    if sealed {
      creation = H5Pcreate(mf_h5p_file_create())
      access = H5Pcreate(mf_h5p_file_access())
      H5Pset_userblock(creation, hsize_t(sealSize))
      H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_V18)
    }
    defer {
      if sealed {
        H5Pclose(creation)
        H5Pclose(access)
      }
    }
    let id = H5Fcreate(path, mf_h5f_acc_trunc(), creation, access)
    if id < 0 {
      throw DataError("\(path): cannot create HDF5 file (\(lastHDF5Message()))")
    }
    return HDF5File(path: path, fileID: id, mode: .readWrite)
  }

  /// Opens an existing HDF5 file; a missing, non-HDF5, corrupt or truncated file throws a
  /// one-line `DataError` naming it.
  public static func open(_ path: String, mode: Mode = .readOnly) throws -> HDF5File {
    _ = library
    mf_h5_silence_errors()
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw DataError("\(path): file not found")
    }
    if isDirectory.boolValue { throw DataError("\(path): is a directory, not an HDF5 file") }
    try InputFile.requireRegular(path)
    let flags = mode == .readOnly ? mf_h5f_acc_rdonly() : mf_h5f_acc_rdwr()
    let id = H5Fopen(path, flags, mf_h5p_default())
    if id < 0 {
      let message = lastHDF5Message()
      if !hasHDF5Signature(path) { throw DataError("\(path): not an HDF5 file") }
      throw DataError("\(path): cannot open HDF5 file, corrupt or truncated (\(message))")
    }
    return HDF5File(path: path, fileID: id, mode: mode)
  }

  /// Flushes and closes the file; later calls on this object throw.
  public func close() throws {
    guard fileID >= 0 else { return }
    mf_h5_silence_errors()
    let status = H5Fclose(fileID)
    fileID = -1
    if status < 0 {
      let reason = lastHDF5Message()
      throw DataError(mode == .readWrite ? "cannot write \(path): \(reason)" : "\(path): closing the HDF5 file failed (\(reason))")
    }
  }

  /// Writes buffered data to disk without closing.
  public func flush() throws {
    let id = try openFileID()
    if H5Fflush(id, H5F_SCOPE_GLOBAL) < 0 {
      throw DataError("\(path): flushing the HDF5 file failed (\(lastHDF5Message()))")
    }
  }

  // MARK: Parameter names

  /// The dataset path of a dotted parameter name: each dot becomes a group separator
  /// (`features.3.weight` -> `features/3/weight`).
  public static func datasetPath(forParameter name: String) -> String {
    name.replacingOccurrences(of: ".", with: "/")
  }

  /// The parameter name of a dataset path, the inverse of `datasetPath(forParameter:)`
  /// (`/features/3/weight` -> `features.3.weight`).
  public static func parameterName(forDatasetPath path: String) -> String {
    components(of: path).joined(separator: ".")
  }

  // MARK: Writing datasets

  /// Writes a Float32 dataset (`<f4`) of the given shape (row-major values; `[]` = scalar),
  /// creating intermediate groups and replacing an existing dataset at `datasetPath`.
  public func write(_ values: [Float], shape: [Int], at datasetPath: String) throws {
    try values.withUnsafeBufferPointer { buffer in
      try writeRaw(
        UnsafeRawPointer(buffer.baseAddress), count: buffer.count, shape: shape,
        fileType: mf_h5t_ieee_f32le(), memoryType: mf_h5t_native_float(), at: datasetPath)
    }
  }

  /// Writes a UInt8 dataset (`|u1`), e.g. images as `N x H x W x 3`.
  public func write(_ values: [UInt8], shape: [Int], at datasetPath: String) throws {
    try values.withUnsafeBufferPointer { buffer in
      try writeRaw(
        UnsafeRawPointer(buffer.baseAddress), count: buffer.count, shape: shape,
        fileType: mf_h5t_std_u8le(), memoryType: mf_h5t_native_uint8(), at: datasetPath)
    }
  }

  /// Writes an Int64 dataset (`<i8`), e.g. labels.
  public func write(_ values: [Int], shape: [Int], at datasetPath: String) throws {
    let wide = values.map { Int64($0) }
    try wide.withUnsafeBufferPointer { buffer in
      try writeRaw(
        UnsafeRawPointer(buffer.baseAddress), count: buffer.count, shape: shape,
        fileType: mf_h5t_std_i64le(), memoryType: mf_h5t_native_int64(), at: datasetPath)
    }
  }

  /// Writes a tensor's values and shape as a Float32 dataset (bit-exact).
  public func writeTensor(_ tensor: Tensor, at datasetPath: String) throws {
    try tensor.withUnsafeScalars { buffer in
      try writeRaw(
        UnsafeRawPointer(buffer.baseAddress), count: buffer.count, shape: tensor.shape,
        fileType: mf_h5t_ieee_f32le(), memoryType: mf_h5t_native_float(), at: datasetPath)
    }
  }

  // MARK: Reading datasets

  /// Reads a numeric dataset as Float32, converting from any stored integer or float type
  /// (float64 rounds to nearest, integers convert exactly up to 2^24). `rows` selects a range of
  /// the first dimension (all rows when nil).
  public func readFloats(at datasetPath: String, rows: Range<Int>? = nil) throws -> (shape: [Int], values: [Float]) {
    try readNumeric(at: datasetPath, rows: rows, memoryType: mf_h5t_native_float(), as: Float.self) { cls, _ in
      cls == H5T_FLOAT || cls == H5T_INTEGER ? nil : "a numeric dataset"
    }
  }

  /// Reads a numeric dataset into a tensor of its shape (see `readFloats(at:rows:)`).
  public func readTensor(at datasetPath: String) throws -> Tensor {
    let (shape, values) = try readFloats(at: datasetPath)
    return Tensor(shape: shape, scalars: values)
  }

  /// Reads an 8-bit integer dataset unconverted (`rows`: a range of the first dimension).
  public func readUInt8(at datasetPath: String, rows: Range<Int>? = nil) throws -> (shape: [Int], values: [UInt8]) {
    try readNumeric(at: datasetPath, rows: rows, memoryType: mf_h5t_native_uint8(), as: UInt8.self) { cls, size in
      cls == H5T_INTEGER && size == 1 ? nil : "an 8-bit integer dataset"
    }
  }

  /// Reads an integer dataset (any width, signed or unsigned) as `Int`, e.g. class labels.
  public func readInts(at datasetPath: String, rows: Range<Int>? = nil) throws -> (shape: [Int], values: [Int]) {
    let (shape, wide) = try readNumeric(
      at: datasetPath, rows: rows, memoryType: mf_h5t_native_int64(), as: Int64.self
    ) { cls, _ in
      cls == H5T_INTEGER ? nil : "an integer dataset"
    }
    return (shape, wide.map { Int($0) })
  }

  /// The shape of a dataset (`[]` for a scalar).
  public func shape(at datasetPath: String) throws -> [Int] {
    try withDataset(datasetPath) { dataset in try dataspaceShape(of: dataset, datasetPath) }
  }

  // MARK: Structure

  /// Whether a group or dataset exists at `objectPath` (false for a bad path, never throws).
  public func exists(_ objectPath: String) -> Bool {
    guard fileID >= 0 else { return false }
    mf_h5_silence_errors()
    return linkExists(Self.components(of: objectPath))
  }

  /// Whether a dataset (not a group) exists at `datasetPath`.
  public func isDataset(_ datasetPath: String) -> Bool {
    guard exists(datasetPath) else { return false }
    let object = H5Oopen(fileID, Self.normalized(datasetPath), mf_h5p_default())
    guard object >= 0 else { return false }
    defer { H5Oclose(object) }
    return H5Iget_type(object) == H5I_DATASET
  }

  /// All dataset paths in the file, recursively, without a leading slash, sorted
  /// (`["features/0/bias", "features/0/weight", ...]`).
  public func datasetPaths() throws -> [String] {
    let id = try openFileID()
    var paths: [String] = []
    try collectDatasets(in: id, prefix: "", depth: 0, into: &paths)
    return paths.sorted()
  }

  // MARK: Attributes

  /// Sets a string attribute on the object at `objectPath` (the root group by default), replacing
  /// an existing attribute of that name: a scalar fixed-length UTF-8 string of exactly the value's
  /// byte count (one NUL byte for an empty value), kept in the object's header.
  public func setAttribute(_ name: String, to value: String, at objectPath: String = "/") throws {
    try withObject(objectPath) { object in
      if H5Aexists(object, name) > 0, H5Adelete(object, name) < 0 {
        throw failure("cannot replace attribute '\(name)' of", objectPath)
      }
      var bytes = Array(value.utf8)
      if bytes.isEmpty { bytes = [0] }
      let type = H5Tcopy(mf_h5t_c_s1())
      defer { H5Tclose(type) }
      H5Tset_size(type, bytes.count)
      H5Tset_strpad(type, H5T_STR_NULLPAD)
      H5Tset_cset(type, H5T_CSET_UTF8)
      let space = H5Screate(H5S_SCALAR)
      defer { H5Sclose(space) }
      let attribute = H5Acreate2(object, name, type, space, mf_h5p_default(), mf_h5p_default())
      if attribute < 0 { throw failure("cannot create attribute '\(name)' (\(bytes.count) bytes) on", objectPath) }
      defer { H5Aclose(attribute) }
      if H5Awrite(attribute, type, bytes) < 0 { throw failure("cannot write attribute '\(name)' on", objectPath) }
    }
  }

  /// The largest string attribute read, in bytes: a larger stored size is damage, not text.
  public static let maximumAttributeBytes = 16 << 20

  /// Reads a string attribute (variable- or fixed-length, as h5py and other tools write them)
  /// from the object at `objectPath` (the root group by default).
  public func stringAttribute(_ name: String, at objectPath: String = "/") throws -> String {
    try withObject(objectPath) { object in
      guard H5Aexists(object, name) > 0 else {
        throw DataError("\(path): no attribute '\(name)' on '\(Self.display(objectPath))'")
      }
      let attribute = H5Aopen(object, name, mf_h5p_default())
      if attribute < 0 { throw failure("cannot open attribute '\(name)' of", objectPath) }
      defer { H5Aclose(attribute) }
      let fileType = H5Aget_type(attribute)
      defer { H5Tclose(fileType) }
      guard H5Tget_class(fileType) == H5T_STRING else {
        throw DataError("\(path): attribute '\(name)' of '\(Self.display(objectPath))' is not a string")
      }
      let space = H5Aget_space(attribute)
      defer { H5Sclose(space) }
      guard H5Sget_simple_extent_npoints(space) == 1 else {
        throw DataError("\(path): attribute '\(name)' of '\(Self.display(objectPath))' is not a single string")
      }
      let memoryType = H5Tcopy(mf_h5t_c_s1())
      defer { H5Tclose(memoryType) }
      H5Tset_cset(memoryType, H5Tget_cset(fileType))
      if H5Tis_variable_str(fileType) > 0 {
        H5Tset_size(memoryType, mf_h5t_variable())
        var pointer: UnsafeMutablePointer<CChar>? = nil
        if H5Aread(attribute, memoryType, &pointer) < 0 {
          throw failure("cannot read attribute '\(name)' of", objectPath)
        }
        defer { if let pointer { H5free_memory(pointer) } }
        return pointer.map { String(cString: $0) } ?? ""
      }
      let size = H5Tget_size(fileType)
      guard size > 0, size <= Self.maximumAttributeBytes else {
        throw DataError("\(path): attribute '\(name)' of '\(Self.display(objectPath))' has an impossible size (\(size) bytes)")
      }
      H5Tset_size(memoryType, size)
      H5Tset_strpad(memoryType, H5T_STR_NULLPAD)
      var bytes = [UInt8](repeating: 0, count: size + 1)
      if H5Aread(attribute, memoryType, &bytes) < 0 {
        throw failure("cannot read attribute '\(name)' of", objectPath)
      }
      let end = bytes.firstIndex(of: 0) ?? size
      var text = String(decoding: bytes[..<end], as: UTF8.self)
      if H5Tget_strpad(fileType) == H5T_STR_SPACEPAD {
        while text.hasSuffix(" ") { text.removeLast() }
      }
      return text
    }
  }

  /// Whether the object at `objectPath` has an attribute called `name`.
  public func hasAttribute(_ name: String, at objectPath: String = "/") -> Bool {
    (try? withObject(objectPath) { object in H5Aexists(object, name) > 0 }) ?? false
  }

  /// The names of all attributes of the object at `objectPath`, in name order.
  public func attributeNames(at objectPath: String = "/") throws -> [String] {
    try withObject(objectPath) { object in
      var names: [String] = []
      let status = withUnsafeMutablePointer(to: &names) { namesPointer -> herr_t in
        H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, context in
          guard let name, let context else { return 0 }
          context.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
          return 0
        }, UnsafeMutableRawPointer(namesPointer))
      }
      if status < 0 { throw failure("cannot list the attributes of", objectPath) }
      return names
    }
  }

  // MARK: Internals

  private func openFileID() throws -> hid_t {
    mf_h5_silence_errors()
    guard fileID >= 0 else { throw DataError("\(path): HDF5 file is closed") }
    return fileID
  }

  /// Path components, empty ones dropped ("/a//b/" -> ["a", "b"]).
  static func components(of path: String) -> [String] {
    path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
  }

  /// Relative path for HDF5 calls ("." for the root).
  static func normalized(_ path: String) -> String {
    let parts = components(of: path)
    return parts.isEmpty ? "." : parts.joined(separator: "/")
  }

  /// Path for messages ("/" for the root).
  static func display(_ path: String) -> String {
    let parts = components(of: path)
    return parts.isEmpty ? "/" : parts.joined(separator: "/")
  }

  private func linkExists(_ parts: [String]) -> Bool {
    var prefix = ""
    for part in parts {
      prefix = prefix.isEmpty ? part : prefix + "/" + part
      if H5Lexists(fileID, prefix, mf_h5p_default()) <= 0 { return false }
    }
    return true
  }

  private func failure(_ what: String, _ objectPath: String) -> DataError {
    DataError("\(path): \(what) '\(Self.display(objectPath))' (\(lastHDF5Message()))")
  }

  /// Opens the object at `objectPath` for `body`; a missing one is "no `kind` '...'".
  private func withObject<R>(_ objectPath: String, kind: String = "object", _ body: (hid_t) throws -> R) throws -> R {
    let id = try openFileID()
    guard linkExists(Self.components(of: objectPath)) else {
      throw DataError("\(path): no \(kind) '\(Self.display(objectPath))'")
    }
    let object = H5Oopen(id, Self.normalized(objectPath), mf_h5p_default())
    if object < 0 { throw failure("cannot open", objectPath) }
    defer { H5Oclose(object) }
    return try body(object)
  }

  private func withDataset<R>(_ datasetPath: String, _ body: (hid_t) throws -> R) throws -> R {
    try withObject(datasetPath, kind: "dataset") { object in
      guard H5Iget_type(object) == H5I_DATASET else {
        throw DataError("\(path): '\(Self.display(datasetPath))' is a group, not a dataset")
      }
      return try body(object)
    }
  }

  private func dataspaceShape(of dataset: hid_t, _ datasetPath: String) throws -> [Int] {
    let space = H5Dget_space(dataset)
    if space < 0 { throw failure("cannot read the dataspace of", datasetPath) }
    defer { H5Sclose(space) }
    let rank = Int(H5Sget_simple_extent_ndims(space))
    if rank < 0 { throw failure("cannot read the dataspace of", datasetPath) }
    guard rank <= 32 else { throw damaged(datasetPath, "rank \(rank)") }  // H5S_MAX_RANK
    var dims = [hsize_t](repeating: 0, count: rank)
    if rank > 0, H5Sget_simple_extent_dims(space, &dims, nil) < 0 {
      throw failure("cannot read the dataspace of", datasetPath)
    }
    var shape: [Int] = []
    var count = 1
    for dim in dims {
      guard let size = Int(exactly: dim) else { throw damaged(datasetPath, "dimension \(dim)") }
      let (product, overflow) = count.multipliedReportingOverflow(by: size)
      guard !overflow, product <= Self.maximumElements else { throw damaged(datasetPath, "shape \(dims)") }
      count = product
      shape.append(size)
    }
    return shape
  }

  /// The most elements a dataset read may hold (2^36): more is a damaged shape.
  public static let maximumElements = 1 << 36

  private func damaged(_ datasetPath: String, _ what: String) -> DataError {
    DataError("\(path): dataset '\(Self.display(datasetPath))' has an impossible \(what) (damaged file)")
  }

  /// Checks that a dataset's stored bytes can hold `count` elements of `elementSize` bytes before
  /// anything is allocated: contiguous data must fill its storage exactly (or have none written),
  /// chunked (possibly compressed) data may not expand more than deflate can (1032:1).
  private func checkStorage(of dataset: hid_t, count: Int, elementSize: Int, _ datasetPath: String) throws {
    let (needed, overflow) = count.multipliedReportingOverflow(by: max(elementSize, 1))
    guard !overflow else { throw damaged(datasetPath, "size") }
    let stored = Int(clamping: H5Dget_storage_size(dataset))
    let plist = H5Dget_create_plist(dataset)
    let layout = plist >= 0 ? H5Pget_layout(plist) : H5D_LAYOUT_ERROR
    if plist >= 0 { H5Pclose(plist) }
    switch layout {
    case H5D_CONTIGUOUS, H5D_COMPACT:
      guard stored == 0 || stored == needed else {
        throw DataError("\(path): dataset '\(Self.display(datasetPath))' stores \(stored) bytes, its shape needs \(needed) (damaged file)")
      }
    case H5D_CHUNKED:
      guard needed / 1032 <= max(stored, 1 << 20) else { throw damaged(datasetPath, "size for its \(stored) stored bytes") }
    default:
      throw failure("cannot read the layout of", datasetPath)
    }
  }

  private func writeRaw(
    _ pointer: UnsafeRawPointer?, count: Int, shape: [Int], fileType: hid_t, memoryType: hid_t,
    at datasetPath: String
  ) throws {
    let id = try openFileID()
    let parts = Self.components(of: datasetPath)
    guard !parts.isEmpty else { throw DataError("\(path): empty dataset path") }
    guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == count else {
      throw DataError(
        "\(path): dataset '\(Self.display(datasetPath))' has shape \(shape) but \(count) values were given")
    }
    let name = parts.joined(separator: "/")
    if linkExists(parts), H5Ldelete(id, name, mf_h5p_default()) < 0 {
      throw failure("cannot replace", datasetPath)
    }
    let dims = shape.map { hsize_t($0) }
    let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), dims, nil)
    if space < 0 { throw failure("cannot create a dataspace for", datasetPath) }
    defer { H5Sclose(space) }
    let linkProperties = H5Pcreate(mf_h5p_link_create())
    defer { H5Pclose(linkProperties) }
    H5Pset_create_intermediate_group(linkProperties, 1)
    let dataset = H5Dcreate2(id, name, fileType, space, linkProperties, mf_h5p_default(), mf_h5p_default())
    if dataset < 0 { throw failure("cannot create dataset", datasetPath) }
    defer { H5Dclose(dataset) }
    if count > 0, let pointer {
      if H5Dwrite(dataset, memoryType, mf_h5s_all(), mf_h5s_all(), mf_h5p_default(), pointer) < 0 {
        throw failure("cannot write dataset", datasetPath)
      }
    }
  }

  /// Reads a dataset (or a first-dimension range of it) through HDF5's type conversion into
  /// `memoryType`; `reject` returns a description of the expected kind when the stored
  /// (class, element size) is unsuitable.
  private func readNumeric<T>(
    at datasetPath: String, rows: Range<Int>?, memoryType: hid_t, as: T.Type,
    reject: (H5T_class_t, Int) -> String?
  ) throws -> (shape: [Int], values: [T]) {
    try withDataset(datasetPath) { dataset in
      let fileType = H5Dget_type(dataset)
      if fileType < 0 { throw failure("cannot read the type of", datasetPath) }
      let typeClass = H5Tget_class(fileType)
      let size = H5Tget_size(fileType)
      H5Tclose(fileType)
      if let expected = reject(typeClass, size) {
        throw DataError(
          "\(path): '\(Self.display(datasetPath))' is not \(expected) (stored type: \(Self.describe(typeClass, size)))")
      }
      var shape = try dataspaceShape(of: dataset, datasetPath)
      try checkStorage(of: dataset, count: shape.reduce(1, *), elementSize: size, datasetPath)
      var memorySpace = mf_h5s_all()
      var fileSpace = mf_h5s_all()
      if let rows {
        guard let first = shape.first, rows.lowerBound >= 0, rows.upperBound <= first else {
          throw DataError(
            "\(path): rows \(rows.lowerBound)..<\(rows.upperBound) out of range for '\(Self.display(datasetPath))' of shape \(shape)")
        }
        shape[0] = rows.count
        fileSpace = H5Dget_space(dataset)
        var start = [hsize_t](repeating: 0, count: shape.count)
        start[0] = hsize_t(rows.lowerBound)
        let counts = shape.map { hsize_t($0) }
        H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, counts, nil)
        memorySpace = H5Screate_simple(Int32(shape.count), counts, nil)
      }
      defer {
        if rows != nil {
          H5Sclose(fileSpace)
          H5Sclose(memorySpace)
        }
      }
      let count = shape.reduce(1, *)
      var status: herr_t = 0
      let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        if count > 0 {
          status = H5Dread(
            dataset, memoryType, memorySpace, fileSpace, mf_h5p_default(), UnsafeMutableRawPointer(buffer.baseAddress))
        }
        if status < 0, let base = buffer.baseAddress {
          memset(base, 0, count * MemoryLayout<T>.stride)  // nothing uninitialized escapes
        }
        initialized = count
      }
      if status < 0 { throw failure("cannot read dataset", datasetPath) }
      return (shape, values)
    }
  }

  private func collectDatasets(in group: hid_t, prefix: String, depth: Int, into paths: inout [String]) throws {
    guard depth < 64 else { throw DataError("\(path): groups nested deeper than 64 levels at '\(prefix)'") }
    var info = H5G_info_t()
    if H5Gget_info(group, &info) < 0 { throw failure("cannot list group", prefix) }
    for index in 0..<info.nlinks {
      let length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, mf_h5p_default())
      if length < 0 { throw failure("cannot list group", prefix) }
      guard length <= 1 << 16 else { throw DataError("\(path): a link name in '\(prefix)' has an impossible length (damaged file)") }
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, mf_h5p_default())
      let name = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
      let child = H5Oopen(group, name, mf_h5p_default())
      if child < 0 {
        H5Eclear2(hid_t(H5E_DEFAULT))  // dangling soft or external link: not a dataset of this file
        continue
      }
      defer { H5Oclose(child) }
      let childPath = prefix.isEmpty ? name : prefix + "/" + name
      switch H5Iget_type(child) {
      case H5I_GROUP: try collectDatasets(in: child, prefix: childPath, depth: depth + 1, into: &paths)
      case H5I_DATASET: paths.append(childPath)
      default: break
      }
    }
  }

  private static func describe(_ typeClass: H5T_class_t, _ size: Int) -> String {
    switch typeClass {
    case H5T_INTEGER: return "\(size * 8)-bit integer"
    case H5T_FLOAT: return "\(size * 8)-bit float"
    case H5T_STRING: return "string"
    case H5T_COMPOUND: return "compound"
    default: return "HDF5 type class \(typeClass.rawValue)"
    }
  }
}

/// The calling thread's most specific HDF5 error message, on one line (clears the stack).
func lastHDF5Message() -> String {
  var buffer = [CChar](repeating: 0, count: 256)
  mf_h5_last_error(&buffer)
  let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  let oneLine = text.split(whereSeparator: \.isNewline).joined(separator: " ")
  // The file drivers report a failed system call as "..., errno = 28, error message = 'No space
  // left on device', ...": only the system's reason is kept.
  if let start = oneLine.range(of: "error message = '"),
    let end = oneLine[start.upperBound...].firstIndex(of: "'")
  {
    return AtomicFile.lowercasedReason(String(oneLine[start.upperBound..<end]))
  }
  return oneLine.isEmpty ? "unknown HDF5 error" : oneLine
}

// MARK: Sealed files

extension HDF5File {
  /// The size of a sealed file's user block, which holds its seal.
  public static let sealSize = 512
  private static let sealMagic = "modelfool-sealed-hdf5 1\n"

  /// The CRC-32 (zlib's, as Python's `zlib.crc32`) of `bytes`, continuing from `crc`.
  public static func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    var value = UInt(crc)
    var offset = 0
    while offset < bytes.count {
      let length = min(bytes.count - offset, 1 << 30)
      value = CZlib.crc32(value, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(length))
      offset += length
    }
    return UInt32(truncatingIfNeeded: value)
  }

  /// The seal of a file of `length` bytes whose bytes after the user block have CRC-32 `crc`:
  /// three text lines, NUL-padded to ``sealSize`` bytes.
  private static func sealRecord(length: Int, crc: UInt32) -> [UInt8] {
    let hex = String(crc, radix: 16)
    let text = sealMagic + "length \(length)\ncrc32 \(String(repeating: "0", count: 8 - hex.count) + hex)\n"
    return Array(text.utf8) + [UInt8](repeating: 0, count: sealSize - text.utf8.count)
  }

  /// The length and CRC-32 of the bytes after the user block of the file at `path`.
  private static func digestAfterUserBlock(_ descriptor: Int32, _ path: String) throws -> (length: Int, crc: UInt32) {
    var crc: UInt32 = 0
    var length = sealSize
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(length)) }
      if count < 0 { throw DataError("cannot read \(path): \(AtomicFile.reason(errno: errno))") }
      if count == 0 { break }
      crc = buffer.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0.prefix(count)), continuing: crc) }
      length += count
    }
    return (length, crc)
  }

  /// Writes the seal of the closed file at `path`, made by `create(_:sealed: true)`, into its user
  /// block: the file's length and the CRC-32 of every byte after the block.
  public static func seal(_ path: String) throws {
    let descriptor = Glibc.open(path, O_RDWR)
    guard descriptor >= 0 else { throw DataError("cannot write \(path): \(AtomicFile.reason(errno: errno))") }
    defer { _ = Glibc.close(descriptor) }
    let (length, crc) = try digestAfterUserBlock(descriptor, path)
    let record = sealRecord(length: length, crc: crc)
    let written = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    if written != record.count { throw DataError("cannot write \(path): \(AtomicFile.reason(errno: errno))") }
  }

  /// Checks the seal of the file at `path` before libhdf5 reads it: false when the file carries
  /// none (it does not start with one), true when its length and CRC-32 match the seal; a damaged
  /// seal, a different length or a different digest throws a one-line `DataError`.
  public static func verifySeal(_ path: String) throws -> Bool {
    try InputFile.requireRegular(path)  // a FIFO would block the read
    let descriptor = Glibc.open(path, O_RDONLY)
    guard descriptor >= 0 else { throw DataError("cannot read \(path): \(AtomicFile.reason(errno: errno))") }
    defer { _ = Glibc.close(descriptor) }
    var block = [UInt8](repeating: 0, count: sealSize)
    let count = block.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
    let magic = Array(sealMagic.utf8)
    guard count >= magic.count, Array(block.prefix(magic.count)) == magic else { return false }
    guard count == sealSize else { throw DataError("\(path): truncated inside its seal (\(count) bytes)") }
    let lines = block.split(separator: 0, omittingEmptySubsequences: true).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
    var fields: [String: String] = [:]
    for line in lines.split(separator: "\n").dropFirst() {
      let parts = line.split(separator: " ", maxSplits: 1)
      if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
    }
    guard let length = fields["length"].flatMap({ Int($0) }), let crc = fields["crc32"].flatMap({ UInt32($0, radix: 16) }),
      sealRecord(length: length, crc: crc) == block
    else {
      throw DataError("\(path): its seal (the checksum in its first \(sealSize) bytes) is damaged")
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw DataError("cannot read \(path): \(AtomicFile.reason(errno: errno))") }
    guard Int(status.st_size) == length else {
      throw DataError("\(path): \(Int(status.st_size) < length ? "truncated" : "extended") to \(status.st_size) bytes, it was written with \(length)")
    }
    let actual = try digestAfterUserBlock(descriptor, path)
    guard actual.length == length, actual.crc == crc else {
      throw DataError("\(path): damaged, its bytes fail the checksum written with them")
    }
    return true
  }
}

extension HDF5File {
  /// Checks every global heap collection (`GCOL`) of an unsealed file before libhdf5 reads it:
  /// variable-length strings of old checkpoints live there, and libhdf5 1.10 reads an object whose
  /// recorded size runs past its collection without checking (`H5HG_read`, found by fuzz-checkpoint
  /// on a version-1 checkpoint). A collection must lie inside the file and each object inside its
  /// collection; anything else is a one-line `DataError`.
  public static func checkGlobalHeaps(_ path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else { throw DataError("cannot read \(path)") }
    let bytes = [UInt8](data)
    func word(_ at: Int, _ width: Int) -> Int {
      var v = 0
      for k in stride(from: width - 1, through: 0, by: -1) { v = v << 8 | Int(bytes[at + k]) }
      return v
    }
    let signature: [UInt8] = Array("GCOL".utf8)
    var start = 0
    while start + 16 <= bytes.count {
      guard bytes[start] == signature[0], bytes[start + 1] == signature[1], bytes[start + 2] == signature[2],
        bytes[start + 3] == signature[3], bytes[start + 4] == 1
      else { start += 1; continue }
      // Sizes are 8 bytes wide in every file ModelFool and h5py write (the superblock's default).
      let size = bytes[(start + 8)..<(start + 16)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      guard size >= 16, size <= UInt64(bytes.count - start) else {
        throw DataError("\(path): damaged, a global heap at byte \(start) claims \(size) bytes, beyond the file's \(bytes.count)")
      }
      let end = start + Int(size)
      var object = start + 16
      while object + 16 <= end {
        let index = word(object, 2)
        let objectSize = bytes[(object + 8)..<(object + 16)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        // Object 0 is the free space that ends the collection; its size counts its own header.
        guard objectSize <= UInt64(end - object - (index == 0 ? 0 : 16)) else {
          throw DataError("\(path): damaged, object \(index) of the global heap at byte \(start) claims \(objectSize) bytes, beyond its collection")
        }
        if index == 0 { break }
        object += 16 + (Int(objectSize) + 7) / 8 * 8
      }
      start = end
    }
  }
}

/// Whether the file carries the HDF5 signature `\x89HDF\r\n\x1a\n` at offset 0 or at one of the
/// user-block offsets 512, 1024, 2048, ... (as the format specification allows).
public func hasHDF5Signature(_ path: String) -> Bool {
  guard let handle = FileHandle(forReadingAtPath: path) else { return false }
  defer { try? handle.close() }
  let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
  var offset: UInt64 = 0
  while offset < (1 << 30) {
    do {
      try handle.seek(toOffset: offset)
      guard let bytes = try handle.read(upToCount: 8), bytes.count == 8 else { return false }
      if Array(bytes) == signature { return true }
    } catch { return false }
    offset = offset == 0 ? 512 : offset * 2
  }
  return false
}
