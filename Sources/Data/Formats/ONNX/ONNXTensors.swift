import Foundation
import ModelFool

/// Decodes ONNX tensors (initializers and `Constant` values) into graph constants, checking every
/// size before allocating: float32, float16 and float64 become Float32; int64 and int32 become
/// integers. Data comes from `raw_data` (little-endian), the typed lists, or an external file
/// inside the model's folder.
struct TensorDecoder {
  /// The model file, for messages.
  let source: String
  /// The folder external data must lie in (nil: external data refused).
  let folder: String?

  private enum Element {
    case float32, float16, float64, int64, int32
    var bytes: Int {
      switch self {
      case .float32, .int32: 4
      case .float16: 2
      case .float64, .int64: 8
      }
    }
  }

  /// The constant held by `t`, or a one-line ``ONNXError`` naming `what`.
  func decode(_ t: Onnx_TensorProto, _ what: String) throws -> GraphConstant {
    let label = "\(source): \(what)"
    let element: Element
    switch Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) {
    case .float?: element = .float32
    case .float16?: element = .float16
    case .double?: element = .float64
    case .int64?: element = .int64
    case .int32?: element = .int32
    default: throw ONNXError(.tensor, "\(label): data type \(t.dataType) is not supported (float32, float16, float64, int64, int32)")
    }
    guard !t.hasSegment else { throw ONNXError(.tensor, "\(label): segmented tensors are not supported") }
    guard t.dims.count <= 8 else { throw ONNXError(.tensor, "\(label): rank \(t.dims.count) is above 8") }
    let shape = t.dims.map { Int($0) }
    let count: Int
    do { count = try checkedElementCount(shape, label) } catch let error as GraphError { throw ONNXError(.tensor, error.message) }
    let byteCount = count * element.bytes  // count <= 2^31, so no overflow

    let bytes: Data?
    if t.dataLocation == .external {
      bytes = try externalBytes(t, byteCount: byteCount, label)
    } else if t.hasRawData {
      guard t.rawData.count == byteCount else {
        throw ONNXError(.tensor, "\(label): raw data holds \(t.rawData.count) bytes, its shape \(shape) needs \(byteCount)")
      }
      bytes = t.rawData
    } else {
      bytes = nil
    }
    func typedCount(_ n: Int) throws {
      guard n == count else { throw ONNXError(.tensor, "\(label): \(n) values for shape \(shape) (\(count) elements)") }
    }

    switch element {
    case .float32, .float16, .float64:
      var values: [Float]
      if let bytes {
        values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
          for i in 0..<count {
            switch element {
            case .float32: values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            case .float16: values[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
            default: values[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
          }
        }
      } else {
        switch element {
        case .float32:
          try typedCount(t.floatData.count)
          values = t.floatData
        case .float16:
          try typedCount(t.int32Data.count)
          values = t.int32Data.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) }
        default:
          try typedCount(t.doubleData.count)
          values = t.doubleData.map { Float($0) }
        }
      }
      guard values.allSatisfy(\.isFinite) else { throw ONNXError(.tensor, "\(label): holds NaN or infinite values (or values beyond Float32)") }
      return .floats(shape: shape, values: values)
    case .int64, .int32:
      var values: [Int]
      if let bytes {
        values = [Int](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
          for i in 0..<count {
            values[i] = element == .int64
              ? Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
              : Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
          }
        }
      } else if element == .int64 {
        try typedCount(t.int64Data.count)
        values = t.int64Data.map { Int($0) }
      } else {
        try typedCount(t.int32Data.count)
        values = t.int32Data.map { Int($0) }
      }
      return .ints(shape: shape, values: values)
    }
  }

  /// The bytes of an external tensor: `location` must name a regular file inside the model's
  /// folder (no absolute path, no `..`, no link leading out), and `offset` + the tensor's size
  /// must fit in it (`length`, when given, must equal that size).
  private func externalBytes(_ t: Onnx_TensorProto, byteCount: Int, _ label: String) throws -> Data {
    var entries: [String: String] = [:]
    for e in t.externalData { entries[e.key] = e.value }
    guard let folder else { throw ONNXError(.externalData, "\(label): external data is not allowed here") }
    guard let location = entries["location"], !location.isEmpty else {
      throw ONNXError(.externalData, "\(label): external data without a location")
    }
    let parts = location.split(separator: "/", omittingEmptySubsequences: false)
    guard !location.hasPrefix("/"), !location.contains("\\"), !parts.contains(where: { $0 == ".." || $0.isEmpty }) else {
      throw ONNXError(.externalData, "\(label): external data location '\(location.prefix(80))' leaves the model's folder")
    }
    let root = URL(fileURLWithPath: folder).resolvingSymlinksInPath().standardizedFileURL.path
    let file = URL(fileURLWithPath: folder + "/" + location).resolvingSymlinksInPath().standardizedFileURL.path
    guard file.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
      throw ONNXError(.externalData, "\(label): external data file '\(location.prefix(80))' leads out of the model's folder")
    }
    let attributes = try? FileManager.default.attributesOfItem(atPath: file)
    guard let size = (attributes?[.size] as? NSNumber)?.intValue, attributes?[.type] as? FileAttributeType == .typeRegular else {
      throw ONNXError(.externalData, "\(label): external data file '\(location.prefix(80))' is missing")
    }
    guard let offset = Int(entries["offset"] ?? "0"), offset >= 0 else {
      throw ONNXError(.externalData, "\(label): external data offset '\((entries["offset"] ?? "").prefix(20))' is not a byte offset")
    }
    if let text = entries["length"] {
      guard Int(text) == byteCount else {
        throw ONNXError(.externalData, "\(label): external data length \(text.prefix(20)) differs from the \(byteCount) bytes its shape needs")
      }
    }
    guard offset <= size, size - offset >= byteCount else {
      throw ONNXError(.externalData, "\(label): external data file '\(location.prefix(80))' has \(size) bytes, \(offset) + \(byteCount) are needed")
    }
    guard let handle = FileHandle(forReadingAtPath: file) else {
      throw ONNXError(.externalData, "\(label): cannot open external data file '\(location.prefix(80))'")
    }
    defer { try? handle.close() }
    do {
      try handle.seek(toOffset: UInt64(offset))
      let data = try handle.read(upToCount: byteCount) ?? Data()
      guard data.count == byteCount else { throw ONNXError(.externalData, "\(label): external data file '\(location.prefix(80))' ended early") }
      return data
    } catch let error as ONNXError { throw error } catch {
      throw ONNXError(.externalData, "\(label): cannot read external data file '\(location.prefix(80))'")
    }
  }
}
