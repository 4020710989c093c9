import Foundation

/// Reader for PyTorch's legacy (pre-zip, torch < 1.6 default) `torch.save` files holding a state
/// dict, written in Swift with a pickle-subset decoder that never executes anything.
///
/// Layout of such a file: five pickles, then raw storages:
/// 1. magic number `0x1950a86a20f9469cfc6c`, 2. protocol version `1001`, 3. `sys_info` dict
/// (`little_endian` must be true), 4. the object: an `OrderedDict` of name -> tensor, each tensor
/// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` whose
/// storage is a persistent id `('storage', torch.FloatStorage, key, location, numel, view)`,
/// 5. the list of storage keys; then for each key in that order an 8-byte little-endian element
/// count and the elements, little-endian.
public enum LegacyTorchFile {
  /// Reads every tensor of the state dict at `path`, in file order, converted to Float32 (integer,
  /// half, double and bool storages included); values are in row-major order of `shape`, whatever
  /// the tensor's storage offset and strides. Throws a one-line `DataError` naming the file for a
  /// missing, truncated or corrupt file, a zip-format checkpoint, or a pickle using anything outside
  /// the supported subset.
  public static func read(path: String) throws -> [(name: String, shape: [Int], values: [Float])] {
    try InputFile.requireRegular(path)
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError("\(path): cannot read file")
    }
    return try oneLineErrors { try data.withUnsafeBytes { try parse(bytes: $0, source: path) } }
  }

  /// Parses a legacy `torch.save` byte stream; `source` names it in error messages. Every count,
  /// size, stride and offset read from the stream is checked (overflow included) before use.
  static func parse(bytes: UnsafeRawBufferPointer, source: String) throws -> [(
    name: String, shape: [Int], values: [Float]
  )] {
    if bytes.count >= 4, bytes[0] == 0x50, bytes[1] == 0x4B, bytes[2] == 3, bytes[3] == 4 {
      throw DataError(
        "\(source): zip-format torch checkpoint; only the legacy (pre-zip) format is supported here (TorchCheckpoint reads both)")
    }
    guard bytes.count > 2, bytes[0] == 0x80 else {
      throw DataError("\(source): bad magic (not a legacy torch.save file)")
    }
    var header = PickleMachine(bytes: bytes, position: 0, source: source)

    let magic = try header.load()
    guard case .bigInt(let magicBytes) = magic, magicBytes == legacyMagic else {
      throw DataError("\(source): bad magic (not a legacy torch.save file)")
    }
    guard case .int(1001) = try header.load() else {
      throw DataError("\(source): unsupported legacy protocol version (expected 1001)")
    }
    guard case .dict(let sysInfo) = try header.load() else {
      throw DataError("\(source): sys_info is not a dict")
    }
    if case .bool(false)? = sysInfo["little_endian"] {
      throw DataError("\(source): big-endian checkpoint is not supported")
    }

    let tables = TorchUnpickler()
    var machine = tables.machine(bytes: bytes, position: header.position, source: source)
    let object = try machine.load()
    let entries = try tables.stateDictEntries(object, source: source)

    var keys = PickleMachine(bytes: bytes, position: machine.position, source: source)
    guard case .list(let keyList) = try keys.load() else {
      throw DataError("\(source): storage key list is not a list")
    }

    // Locate each storage's elements in the data section.
    var position = keys.position
    var storageBytes: [String: Range<Int>] = [:]
    for keyValue in keyList.items {
      let key = try storageKey(keyValue, source: source)
      guard let root = tables.roots[key] else {
        throw DataError("\(source): storage key \(key.prefix(40)) is listed but used by no tensor")
      }
      guard storageBytes[key] == nil else {
        throw DataError("\(source): storage key \(key.prefix(40)) is listed twice")
      }
      guard bytes.count - position >= 8 else {
        throw DataError("\(source): truncated: storage \(key) header at byte \(position) of \(bytes.count)")
      }
      let count = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: Int64.self))
      guard count == Int64(root.count) else {
        throw DataError("\(source): storage \(key) has \(count) elements, expected \(root.count)")
      }
      let context = "\(source): storage \(key)"
      let byteCount = try FileArithmetic.multiply(root.count, root.type.elementSize, field: "element count", context: context)
      guard byteCount <= bytes.count - position - 8 else {
        throw DataError(
          "\(source): truncated: storage \(key) needs \(byteCount) bytes at byte \(position + 8) of \(bytes.count)")
      }
      storageBytes[key] = (position + 8)..<(position + 8 + byteCount)
      position += 8 + byteCount
    }

    return try entries.map { name, index in
      let key = tables.storages[tables.tensors[index].storage].key
      guard let range = storageBytes[key] else {
        throw DataError("\(source): tensor \(name): storage \(key) missing from the data section")
      }
      let values = try tables.gather(
        index, storage: UnsafeRawBufferPointer(rebasing: bytes[range]), context: "\(source): tensor \(name)")
      return (name, tables.tensors[index].shape, values)
    }
  }

  /// `0x1950a86a20f9469cfc6c` as pickled by LONG1: little-endian two's complement.
  private static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

  private static func storageKey(_ value: PickleValue, source: String) throws -> String {
    switch value {
    case .string(let key): return key
    case .int(let key): return String(key)
    default: throw DataError("\(source): storage key is a \(value.kindName)")
    }
  }
}
