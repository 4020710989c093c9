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
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError("\(path): cannot read file")
    }
    return try data.withUnsafeBytes { try parse(bytes: $0, source: path) }
  }

  /// Parses a legacy `torch.save` byte stream; `source` names it in error messages.
  static func parse(bytes: UnsafeRawBufferPointer, source: String) throws -> [(
    name: String, shape: [Int], values: [Float]
  )] {
    if bytes.count >= 4, bytes[0] == 0x50, bytes[1] == 0x4B, bytes[2] == 3, bytes[3] == 4 {
      throw DataError(
        "\(source): zip-format torch checkpoint; only the legacy (pre-zip) format is supported")
    }
    guard bytes.count > 2, bytes[0] == 0x80 else {
      throw DataError("\(source): bad magic (not a legacy torch.save file)")
    }
    let tables = Tables()
    var machine = PickleMachine(bytes: bytes, position: 0, source: source)

    let magic = try machine.load()
    guard case .bigInt(let magicBytes) = magic, magicBytes == legacyMagic else {
      throw DataError("\(source): bad magic (not a legacy torch.save file)")
    }
    guard case .int(1001) = try machine.load() else {
      throw DataError("\(source): unsupported legacy protocol version (expected 1001)")
    }
    guard case .dict(let sysInfo) = try machine.load() else {
      throw DataError("\(source): sys_info is not a dict")
    }
    if case .bool(false)? = sysInfo["little_endian"] {
      throw DataError("\(source): big-endian checkpoint is not supported")
    }

    machine.reduce = { callable, args in try tables.reduce(callable, args) }
    machine.persistentLoad = { pid in try tables.persistentLoad(pid) }
    let object = try machine.load()
    let entries = try stateDictEntries(object, source: source)

    machine.reduce = { callable, _ in throw PickleFailure("unexpected call of \(callable.kindName)") }
    machine.persistentLoad = { _ in throw PickleFailure("unexpected persistent id") }
    guard case .list(let keyList) = try machine.load() else {
      throw DataError("\(source): storage key list is not a list")
    }

    // Locate each storage's elements in the data section.
    var position = machine.position
    var dataStart: [String: Int] = [:]
    for keyValue in keyList.items {
      let key = try storageKey(keyValue, source: source)
      guard let root = tables.roots[key] else {
        throw DataError("\(source): storage key \(key) is listed but used by no tensor")
      }
      guard position + 8 <= bytes.count else {
        throw DataError("\(source): truncated: storage \(key) header at byte \(position) of \(bytes.count)")
      }
      let count = Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: Int64.self)))
      guard count == root.count else {
        throw DataError("\(source): storage \(key) has \(count) elements, expected \(root.count)")
      }
      let byteCount = count * root.type.elementSize
      guard byteCount <= bytes.count - position - 8 else {
        throw DataError(
          "\(source): truncated: storage \(key) needs \(byteCount) bytes at byte \(position + 8) of \(bytes.count)")
      }
      dataStart[key] = position + 8
      position += 8 + byteCount
    }

    return try entries.map { name, index in
      let tensor = tables.tensors[index]
      let view = tables.storages[tensor.storage]
      guard let start = dataStart[view.key], let root = tables.roots[view.key] else {
        throw DataError("\(source): tensor \(name): storage \(view.key) missing from the data section")
      }
      let values = try gather(
        tensor, view: view, type: root.type, bytes: bytes, dataStart: start,
        context: "\(source): tensor \(name)")
      return (name, tensor.shape, values)
    }
  }

  /// `0x1950a86a20f9469cfc6c` as pickled by LONG1: little-endian two's complement.
  private static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

  /// The (name, tensor index) pairs of a state dict, in insertion order. Accepts the state dict
  /// itself or a dict holding it under "state_dict" / "model_state_dict" / "model".
  private static func stateDictEntries(_ object: PickleValue, source: String) throws -> [(String, Int)] {
    guard case .dict(let dict) = object else {
      throw DataError("\(source): saved object is a \(object.kindName), not a state dict")
    }
    var entries: [(String, Int)] = []
    for (key, value) in dict.entries {
      guard case .opaque("tensor", let index) = value else { continue }
      guard case .string(let name) = key else {
        throw DataError("\(source): state dict key is a \(key.kindName), not a string")
      }
      entries.append((name, index))
    }
    if entries.isEmpty {
      for wrapper in ["state_dict", "model_state_dict", "model"] {
        if let inner = dict[wrapper], case .dict = inner { return try stateDictEntries(inner, source: source) }
      }
      throw DataError("\(source): saved dict holds no tensors")
    }
    return entries
  }

  private static func storageKey(_ value: PickleValue, source: String) throws -> String {
    switch value {
    case .string(let key): return key
    case .int(let key): return String(key)
    default: throw DataError("\(source): storage key is a \(value.kindName)")
    }
  }

  /// Copies a tensor's elements (storage offset + strides) into row-major Float32 values.
  private static func gather(
    _ tensor: TensorRecord, view: StorageView, type: StorageType, bytes: UnsafeRawBufferPointer,
    dataStart: Int, context: String
  ) throws -> [Float] {
    let count = tensor.shape.reduce(1, *)
    if count == 0 { return [] }
    var last = tensor.offset  // highest storage element index the tensor touches
    for (size, stride) in zip(tensor.shape, tensor.strides) {
      guard size >= 0, stride >= 0 else { throw DataError("\(context): negative size or stride") }
      last += (size - 1) * stride
    }
    guard tensor.offset >= 0, last < view.count else {
      throw DataError(
        "\(context): elements \(tensor.offset)...\(last) lie outside its storage of \(view.count)")
    }
    // Convert the touched span of the storage once, then copy strided elements from it.
    let span = convert(
      bytes: bytes, at: dataStart + (view.offset + tensor.offset) * type.elementSize,
      count: last - tensor.offset + 1, type: type)
    if span.count == count { // contiguous row-major (or the span is exactly the tensor)
      var expected = 1
      var contiguous = true
      for (size, stride) in zip(tensor.shape, tensor.strides).reversed() where size != 1 {
        if stride != expected { contiguous = false; break }
        expected *= size
      }
      if contiguous { return span }
    }
    let shape = tensor.shape.isEmpty ? [1] : tensor.shape
    let strides = tensor.strides.isEmpty ? [1] : tensor.strides
    let rank = shape.count
    let inner = shape[rank - 1]
    let innerStride = strides[rank - 1]
    var values = [Float](repeating: 0, count: count)
    var index = [Int](repeating: 0, count: rank)
    var base = 0
    span.withUnsafeBufferPointer { source in
      values.withUnsafeMutableBufferPointer { target in
        var out = 0
        while out < count {
          for i in 0..<inner { target[out + i] = source[base + i * innerStride] }
          out += inner
          // Advance the odometer over the outer dimensions.
          var axis = rank - 2
          while axis >= 0 {
            index[axis] += 1
            base += strides[axis]
            if index[axis] < shape[axis] { break }
            base -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
          }
        }
      }
    }
    return values
  }

  /// Decodes `count` little-endian elements of `type` starting at byte `at` into Float32.
  private static func convert(bytes: UnsafeRawBufferPointer, at start: Int, count: Int, type: StorageType)
    -> [Float]
  {
    [Float](unsafeUninitializedCapacity: count) { out, initialized in
      let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + count * type.elementSize)])
      func each<T>(_: T.Type, _ body: (T) -> Float) {
        for i in 0..<count { out[i] = body(raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
      }
      switch type {
      case .float:
        #if _endian(little)
          UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
        #else
          each(UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
        #endif
      case .double: each(UInt64.self) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
      case .half: each(UInt16.self) { halfToFloat(UInt16(littleEndian: $0)) }
      case .bfloat16: each(UInt16.self) { Float(bitPattern: UInt32(UInt16(littleEndian: $0)) << 16) }
      case .long: each(Int64.self) { Float(Int64(littleEndian: $0)) }
      case .int: each(Int32.self) { Float(Int32(littleEndian: $0)) }
      case .short: each(Int16.self) { Float(Int16(littleEndian: $0)) }
      case .char: each(Int8.self) { Float($0) }
      case .byte: each(UInt8.self) { Float($0) }
      case .bool: each(UInt8.self) { $0 == 0 ? 0 : 1 }
      }
      initialized = count
    }
  }

  /// IEEE binary16 bits to Float32 (normals, subnormals, infinities, NaN).
  private static func halfToFloat(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = Float(bits & 0x3FF)
    switch exponent {
    case 0: return sign * mantissa * 0x1p-24
    case 31: return mantissa == 0 ? sign * .infinity : .nan
    default: return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
  }
}

// MARK: - Unpickling tables

/// Element type of a torch storage class (`torch.FloatStorage`, ...).
private enum StorageType: String {
  case float = "FloatStorage", double = "DoubleStorage", half = "HalfStorage"
  case bfloat16 = "BFloat16Storage", long = "LongStorage", int = "IntStorage"
  case short = "ShortStorage", char = "CharStorage", byte = "ByteStorage", bool = "BoolStorage"

  var elementSize: Int {
    switch self {
    case .double, .long: return 8
    case .float, .int: return 4
    case .half, .bfloat16, .short: return 2
    case .char, .byte, .bool: return 1
    }
  }
}

/// A root storage: element type and element count, as declared by its persistent id.
private struct RootStorage {
  let type: StorageType
  let count: Int
}

/// A storage as a tensor sees it: a root storage, or an (old-style) view of `count` elements
/// starting `offset` elements into the root.
private struct StorageView {
  let key: String
  let offset: Int
  let count: Int
}

/// A tensor rebuilt from the pickle: storage view index, storage offset, size, stride (elements).
private struct TensorRecord {
  let storage: Int
  let offset: Int
  let shape: [Int]
  let strides: [Int]
}

/// Objects the unpickler's hooks build; pickle values refer to them as `.opaque(tag, index)`.
private final class Tables {
  var roots: [String: RootStorage] = [:]
  var storages: [StorageView] = []
  var tensors: [TensorRecord] = []

  /// `('storage', torch.<Type>Storage, key, location, numel[, view_metadata])`; view_metadata is
  /// None or `(view_key, offset, view_numel)`.
  func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
    guard case .tuple(let fields) = pid, fields.count == 5 || fields.count == 6,
      case .string("storage") = fields[0]
    else { throw PickleFailure("unsupported persistent id \(pid.kindName)") }
    guard case .global(let module, let name) = fields[1], module == "torch",
      let type = StorageType(rawValue: name)
    else { throw PickleFailure("unsupported storage type \(fields[1].kindName)") }
    let key: String
    switch fields[2] {
    case .string(let text): key = text
    case .int(let number): key = String(number)
    default: throw PickleFailure("storage key is a \(fields[2].kindName)")
    }
    guard case .int(let count) = fields[4], count >= 0 else {
      throw PickleFailure("storage size is a \(fields[4].kindName)")
    }
    if let known = roots[key] {
      guard known.type == type, known.count == count else {
        throw PickleFailure("storage \(key) declared twice with different type or size")
      }
    } else {
      roots[key] = RootStorage(type: type, count: count)
    }
    var view = StorageView(key: key, offset: 0, count: count)
    if fields.count == 6, case .tuple(let meta) = fields[5] {
      guard meta.count == 3, case .int(let offset) = meta[1], case .int(let viewCount) = meta[2],
        offset >= 0, viewCount >= 0, offset + viewCount <= count
      else { throw PickleFailure("bad storage view metadata for \(key)") }
      view = StorageView(key: key, offset: offset, count: viewCount)
    }
    storages.append(view)
    return .opaque(tag: "storage", index: storages.count - 1)
  }

  /// Calls of the symbols a state dict uses; anything else is refused.
  func reduce(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
    switch callable.globalName {
    case "collections.OrderedDict"?:
      let dict = PickleDict()
      if let first = args.first, case .list(let pairs) = first {
        for pair in pairs.items {
          guard case .tuple(let kv) = pair, kv.count == 2 else { throw PickleFailure("bad OrderedDict item") }
          dict.set(kv[0], kv[1])
        }
      }
      return .dict(dict)
    case "torch._utils._rebuild_tensor_v2"?, "torch._utils._rebuild_tensor"?:
      guard args.count >= 4, case .opaque("storage", let storage) = args[0],
        case .int(let offset) = args[1]
      else { throw PickleFailure("bad arguments to \(callable.globalName!)") }
      let shape = try intTuple(args[2], "size")
      let strides = try intTuple(args[3], "stride")
      guard shape.count == strides.count else { throw PickleFailure("size and stride ranks differ") }
      tensors.append(TensorRecord(storage: storage, offset: offset, shape: shape, strides: strides))
      return .opaque(tag: "tensor", index: tensors.count - 1)
    case "torch._utils._rebuild_parameter"?, "torch._utils._rebuild_parameter_with_state"?:
      guard let data = args.first, case .opaque("tensor", _) = data else {
        throw PickleFailure("bad arguments to \(callable.globalName!)")
      }
      return data
    default:
      throw PickleFailure("unsupported call of \(callable.kindName)")
    }
  }

  private func intTuple(_ value: PickleValue, _ what: String) throws -> [Int] {
    guard case .tuple(let items) = value else { throw PickleFailure("tensor \(what) is a \(value.kindName)") }
    return try items.map {
      guard case .int(let n) = $0 else { throw PickleFailure("tensor \(what) holds a \($0.kindName)") }
      return n
    }
  }
}
