import Foundation

/// Writing safetensors files (the layout ``SafeTensorsFile`` reads): an 8-byte little-endian header
/// length, the JSON header padded with spaces to a multiple of 8 bytes (so every tensor's data
/// starts 8-byte aligned, as the format's own writer does), then the tensors' little-endian bytes
/// back to back in the order given.
extension SafeTensorsFile {
  /// The element type a tensor is written as.
  public enum WriteType: String, Sendable {
    /// Float32 (`F32`).
    case float32 = "F32"
    /// Signed 64-bit integers (`I64`), e.g. BatchNorm's `num_batches_tracked`; the values must be
    /// whole numbers within Int64's range.
    case int64 = "I64"

    var elementSize: Int { self == .float32 ? 4 : 8 }
  }

  /// One tensor to write.
  public struct Entry: Sendable {
    /// Its name in the header.
    public var name: String
    /// Its shape (`[]` for a scalar).
    public var shape: [Int]
    /// Row-major values.
    public var values: [Float]
    /// How the values are stored.
    public var type: WriteType

    /// A tensor entry; `values.count` must equal the element count of `shape`.
    public init(name: String, shape: [Int], values: [Float], type: WriteType = .float32) {
      self.name = name
      self.shape = shape
      self.values = values
      self.type = type
    }
  }

  /// The bytes of a safetensors file holding `entries` (in that order) and `metadata` (the
  /// header's `__metadata__`, omitted when empty).
  ///
  /// - Throws: a one-line ``DataError`` for a name given twice or named `__metadata__`, a value
  ///   count that does not match its shape, NaN or infinite values, or an `int64` value that is
  ///   not a whole number within Int64's range.
  public static func serialize(_ entries: [Entry], metadata: [String: String] = [:]) throws -> Data {
    var header: [String: Any] = [:]
    if !metadata.isEmpty { header["__metadata__"] = metadata }
    var offset = 0
    for e in entries {
      guard header[e.name] == nil else { throw DataError("safetensors: tensor name \(e.name.prefix(120)) is given twice or reserved") }
      guard e.shape.allSatisfy({ $0 >= 0 }), e.shape.reduce(1, *) == e.values.count else {
        throw DataError("safetensors: tensor \(e.name.prefix(120)) has \(e.values.count) values for shape \(e.shape)")
      }
      guard e.values.allSatisfy({ $0.isFinite }) else { throw DataError("safetensors: tensor \(e.name.prefix(120)) holds NaN or infinite values") }
      if e.type == .int64, let bad = e.values.first(where: { $0 != $0.rounded() || abs($0) >= 0x1p63 }) {
        throw DataError("safetensors: tensor \(e.name.prefix(120)) holds \(bad), not a whole number within Int64 for I64")
      }
      let bytes = e.values.count * e.type.elementSize
      header[e.name] = ["dtype": e.type.rawValue, "shape": e.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
      offset += bytes
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
    json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
    var out = Data(capacity: 8 + json.count + offset)
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(json)
    for e in entries {
      switch e.type {
      case .float32:
        #if _endian(little)
          e.values.withUnsafeBytes { out.append(contentsOf: $0) }
        #else
          for v in e.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        #endif
      case .int64:
        for v in e.values { withUnsafeBytes(of: Int64(v).littleEndian) { out.append(contentsOf: $0) } }
      }
    }
    return out
  }

  /// Writes ``serialize(_:metadata:)`` to `path` atomically (``AtomicFile``); returns the number
  /// of bytes written.
  @discardableResult
  public static func write(_ entries: [Entry], metadata: [String: String] = [:], to path: String) throws -> Int {
    let bytes = try serialize(entries, metadata: metadata)
    try AtomicFile.write(to: path) { temporary in try bytes.write(to: URL(fileURLWithPath: temporary)) }
    return bytes.count
  }
}
