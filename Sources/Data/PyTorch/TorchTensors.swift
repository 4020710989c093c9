/// The parts shared by the PyTorch readers (``LegacyTorchFile``, the zip format of
/// ``TorchCheckpoint``, ``SafeTensorsFile``): storage element types, the unpickling hooks that
/// rebuild tensors from a state-dict pickle, and the bounds-checked copy of a tensor's elements
/// out of its storage into row-major Float32.

/// Element type of a torch storage class (`torch.FloatStorage`, ...) or a safetensors dtype.
enum TorchStorageType: String, CaseIterable {
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

  /// The type of a safetensors `dtype` string (`F32`, `BF16`, `I64`, ...).
  init?(safetensorsDType: String) {
    switch safetensorsDType {
    case "F64": self = .double
    case "F32": self = .float
    case "F16": self = .half
    case "BF16": self = .bfloat16
    case "I64": self = .long
    case "I32": self = .int
    case "I16": self = .short
    case "I8": self = .char
    case "U8": self = .byte
    case "BOOL": self = .bool
    default: return nil
    }
  }

  /// Decodes `count` little-endian elements from the start of `raw` (which holds at least
  /// `count * elementSize` bytes, checked by the caller) into Float32.
  func convert(_ raw: UnsafeRawBufferPointer, count: Int) -> [Float] {
    precondition(count >= 0 && raw.count / elementSize >= count)
    return [Float](unsafeUninitializedCapacity: count) { out, initialized in
      func each<T>(_: T.Type, _ body: (T) -> Float) {
        for i in 0..<count { out[i] = body(raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
      }
      switch self {
      case .float:
        #if _endian(little)
          if count > 0 {
            UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: count * 4)
          }
        #else
          each(UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
        #endif
      case .double: each(UInt64.self) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
      case .half: each(UInt16.self) { Self.halfToFloat(UInt16(littleEndian: $0)) }
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
  static func halfToFloat(_ bits: UInt16) -> Float {
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

/// A root storage: element type and element count, as declared by its persistent id.
struct TorchRootStorage {
  let type: TorchStorageType
  let count: Int
}

/// A storage as a tensor sees it: a root storage, or an (old-style) view of `count` elements
/// starting `offset` elements into the root.
struct TorchStorageView {
  let key: String
  let offset: Int
  let count: Int
}

/// A tensor rebuilt from the pickle: storage view index, storage offset, size, stride (elements).
struct TorchTensorRecord {
  let storage: Int
  let offset: Int
  let shape: [Int]
  let strides: [Int]
}

/// The unpickler's hooks for a state dict: storages (persistent ids) and tensors (calls of
/// `_rebuild_tensor_v2`) become table entries that pickle values refer to as `.opaque(tag, index)`.
final class TorchUnpickler {
  var roots: [String: TorchRootStorage] = [:]
  var storages: [TorchStorageView] = []
  var tensors: [TorchTensorRecord] = []

  /// The only symbols a state-dict pickle may name: tensor and parameter rebuilders, the storage
  /// types and `collections.OrderedDict`. Anything else (`os.system`, `builtins.eval`, ...) is a
  /// one-line error naming it, raised when the pickle names it.
  static let allowedGlobals: Set<String> = Set(
    ["collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
     "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"]
      + TorchStorageType.allCases.map { "torch.\($0.rawValue)" })

  /// A pickle machine over `bytes` wired to these hooks and `allowedGlobals`.
  func machine(bytes: UnsafeRawBufferPointer, position: Int, source: String) -> PickleMachine {
    PickleMachine(
      bytes: bytes, position: position, source: source, allowedGlobals: Self.allowedGlobals,
      reduce: { [unowned self] callable, args in try self.reduce(callable, args) },
      persistentLoad: { [unowned self] pid in try self.persistentLoad(pid) })
  }

  /// `('storage', torch.<Type>Storage, key, location, numel[, view_metadata])`; view_metadata is
  /// None or `(view_key, offset, view_numel)` (legacy format only).
  func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
    guard case .tuple(let fields) = pid, fields.count == 5 || fields.count == 6,
      case .string("storage") = fields[0]
    else { throw PickleFailure("unsupported persistent id \(pid.kindName)") }
    guard case .global(let module, let name) = fields[1], module == "torch",
      let type = TorchStorageType(rawValue: name)
    else { throw PickleFailure("unsupported storage type \(fields[1].kindName)") }
    let key: String
    switch fields[2] {
    case .string(let text): key = text
    case .int(let number): key = String(number)
    default: throw PickleFailure("storage key is a \(fields[2].kindName)")
    }
    guard case .int(let count) = fields[4], count >= 0 else {
      throw PickleFailure("storage numel is \(fields[4].kindName == "int" ? "negative" : "a " + fields[4].kindName)")
    }
    guard !count.multipliedReportingOverflow(by: type.elementSize).overflow else {
      throw PickleFailure("storage \(key.prefix(40)) numel \(count) overflows (x \(type.elementSize) bytes)")
    }
    if let known = roots[key] {
      guard known.type == type, known.count == count else {
        throw PickleFailure("storage \(key.prefix(40)) declared twice with different type or numel")
      }
    } else {
      roots[key] = TorchRootStorage(type: type, count: count)
    }
    var view = TorchStorageView(key: key, offset: 0, count: count)
    if fields.count == 6, case .tuple(let meta) = fields[5] {
      guard meta.count == 3, case .int(let offset) = meta[1], case .int(let viewCount) = meta[2],
        offset >= 0, viewCount >= 0, viewCount <= count, offset <= count - viewCount
      else { throw PickleFailure("bad storage view metadata for \(key.prefix(40))") }
      view = TorchStorageView(key: key, offset: offset, count: viewCount)
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
      tensors.append(TorchTensorRecord(storage: storage, offset: offset, shape: shape, strides: strides))
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

  /// The (name, tensor index) pairs of a state dict, in insertion order. Accepts the state dict
  /// itself or a dict holding it under "state_dict" / "model_state_dict" / "model" / "module"
  /// (nesting is bounded by the pickle's depth limit).
  func stateDictEntries(_ object: PickleValue, source: String) throws -> [(String, Int)] {
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
      for wrapper in ["state_dict", "model_state_dict", "model", "module"] {
        if let inner = dict[wrapper], case .dict = inner { return try stateDictEntries(inner, source: source) }
      }
      throw DataError("\(source): saved dict holds no tensors")
    }
    return entries
  }

  /// Copies tensor `index`'s elements (storage offset + strides) into row-major Float32 values.
  /// `storage` holds the whole root storage of the tensor's view; every size, stride and offset
  /// is checked (overflow-checked arithmetic) to address elements inside it.
  func gather(_ index: Int, storage: UnsafeRawBufferPointer, context: String) throws -> [Float] {
    let tensor = tensors[index]
    let view = storages[tensor.storage]
    guard let root = roots[view.key] else { throw DataError("\(context): storage \(view.key) unknown") }
    let type = root.type
    let rootBytes = try FileArithmetic.multiply(root.count, type.elementSize, field: "storage numel", context: context)
    guard storage.count >= rootBytes else {
      throw DataError("\(context): storage \(view.key) holds \(storage.count) bytes, numel \(root.count) needs \(rootBytes)")
    }
    let count = try FileArithmetic.product(tensor.shape, field: "size", context: context)
    guard tensor.offset >= 0 else { throw DataError("\(context): storage offset \(tensor.offset) is negative") }
    if count == 0 { return [] }
    // Highest element (relative to the view) the tensor touches: offset + sum (size - 1) * stride.
    var last = tensor.offset
    for (size, stride) in zip(tensor.shape, tensor.strides) {
      guard stride >= 0 else { throw DataError("\(context): stride \(tensor.strides) holds a negative value") }
      let reach = try FileArithmetic.multiply(size - 1, stride, field: "stride \(tensor.strides) x size", context: context)
      last = try FileArithmetic.add(last, reach, field: "storage offset + stride extent", context: context)
    }
    guard last < view.count else {
      throw DataError(
        "\(context): size \(tensor.shape), stride \(tensor.strides), offset \(tensor.offset) reach element \(last) of a storage of \(view.count)")
    }
    // A view repeating elements (stride 0) may not be larger than the storage it is read from:
    // the allocation stays bounded by the file's size.
    guard count <= view.count else {
      throw DataError(
        "\(context): size \(tensor.shape) has \(count) elements, more than its storage of \(view.count) (broadcast views are not supported)")
    }
    let first = view.offset + tensor.offset  // both within the root, checked above
    let spanCount = last - tensor.offset + 1
    let byteStart = first * type.elementSize
    let byteCount = spanCount * type.elementSize
    guard byteStart <= rootBytes, byteCount <= rootBytes - byteStart else {
      throw DataError("\(context): elements \(first)...\(first + spanCount - 1) lie outside storage \(view.key)")
    }
    // Convert the touched span of the storage once, then copy strided elements from it.
    let span = type.convert(UnsafeRawBufferPointer(rebasing: storage[byteStart..<(byteStart + byteCount)]), count: spanCount)
    if span.count == count {  // contiguous row-major (or the span is exactly the tensor)
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
    var position = [Int](repeating: 0, count: rank)
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
            position[axis] += 1
            base += strides[axis]
            if position[axis] < shape[axis] { break }
            base -= strides[axis] * shape[axis]
            position[axis] = 0
            axis -= 1
          }
        }
      }
    }
    return values
  }
}
