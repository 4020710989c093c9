import Foundation

/// Reader for safetensors files: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {"key": "text"}}`), then the tensors' bytes, row-major and little-endian, at
/// `data_offsets` relative to the end of the header.
///
/// Every number in the header is checked: N against the file (and a 100 MB cap) before anything
/// is allocated, the JSON's nesting depth before it is parsed (at most 8 levels of `[`/`{`), shape
/// products and byte counts with overflow-checked arithmetic, and `end - begin` against
/// dtype size x element count and the data section's length.
public enum SafeTensorsFile {
  /// Largest header accepted (the format's own reader uses the same cap).
  static let maxHeaderLength = 100_000_000
  /// Deepest JSON nesting accepted (a valid header needs 3).
  static let maxJSONDepth = 8

  /// Reads every tensor of the file at `path` (in data order), converted to Float32.
  public static func read(path: String) throws -> [(name: String, shape: [Int], values: [Float])] {
    try InputFile.requireRegular(path)
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError("\(path): cannot read file")
    }
    return try oneLineErrors { try data.withUnsafeBytes { try parse(bytes: $0, source: path).tensors } }
  }

  /// Parses a safetensors byte stream: its tensors in data order and its `__metadata__`.
  static func parse(bytes: UnsafeRawBufferPointer, source: String) throws -> (
    tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String]
  ) {
    guard bytes.count >= 8 else { throw DataError("\(source): \(bytes.count) bytes, too short for a safetensors file") }
    let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
    guard declared <= UInt64(bytes.count - 8) else {
      throw DataError("\(source): safetensors header length \(declared) exceeds the file's \(bytes.count - 8) remaining bytes")
    }
    let headerLength = Int(declared)
    guard headerLength <= maxHeaderLength else {
      throw DataError("\(source): safetensors header length \(headerLength) exceeds the \(maxHeaderLength)-byte limit")
    }
    let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
    let data = UnsafeRawBufferPointer(rebasing: bytes[(8 + headerLength)...])
    try checkNesting(header, source: source)
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: Data(header), options: [])
    } catch {
      throw DataError("\(source): safetensors header is not valid JSON")
    }
    guard let fields = object as? [String: Any] else {
      throw DataError("\(source): safetensors header is not a JSON object")
    }
    // JSONSerialization keeps the last of duplicate keys: a tensor named twice is refused.
    if let name = JSONKeys.firstDuplicate(in: Array(header)) {
      throw DataError("\(source): safetensors header names \(name.prefix(120)) more than once")
    }

    var metadata: [String: String] = [:]
    var records: [(name: String, type: TorchStorageType, shape: [Int], begin: Int, end: Int)] = []
    for (name, value) in fields {
      if name == "__metadata__" {
        guard let meta = value as? [String: Any] else {
          throw DataError("\(source): safetensors __metadata__ is not an object")
        }
        for (k, v) in meta {
          guard let text = v as? String else { throw DataError("\(source): safetensors __metadata__ \(k) is not a string") }
          metadata[k] = text
        }
        continue
      }
      let context = "\(source): tensor \(name.prefix(120))"
      guard let info = value as? [String: Any] else { throw DataError("\(context): header entry is not an object") }
      guard let dtype = info["dtype"] as? String else { throw DataError("\(context): dtype is missing") }
      guard let type = TorchStorageType(safetensorsDType: dtype) else {
        throw DataError("\(context): dtype \(dtype.prefix(20)) is not supported (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)")
      }
      let shape = try integers(info["shape"], field: "shape", context: context)
      let offsets = try integers(info["data_offsets"], field: "data_offsets", context: context)
      guard offsets.count == 2 else { throw DataError("\(context): data_offsets has \(offsets.count) values, not 2") }
      let (begin, end) = (offsets[0], offsets[1])
      guard begin <= end, end <= data.count else {
        throw DataError("\(context): data_offsets [\(begin), \(end)] lie outside the data section of \(data.count) bytes")
      }
      let count = try FileArithmetic.product(shape, field: "shape", context: context)
      let byteCount = try FileArithmetic.multiply(count, type.elementSize, field: "shape \(shape) element count x dtype size", context: context)
      guard end - begin == byteCount else {
        throw DataError("\(context): data_offsets [\(begin), \(end)] hold \(end - begin) bytes, \(dtype) \(shape) needs \(byteCount)")
      }
      records.append((name, type, shape, begin, end))
    }
    records.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
    for (a, b) in zip(records, records.dropFirst()) where b.begin < a.end {
      throw DataError("\(source): tensors \(a.name.prefix(120)) [\(a.begin), \(a.end)] and \(b.name.prefix(120)) [\(b.begin), \(b.end)] overlap in the data section")
    }
    let tensors = records.map { r in
      (r.name, r.shape, r.type.convert(UnsafeRawBufferPointer(rebasing: data[r.begin..<r.end]), count: r.shape.reduce(1, *)))
    }
    return (tensors, metadata)
  }

  /// Non-negative integers of a JSON array (`shape`, `data_offsets`).
  private static func integers(_ value: Any?, field: String, context: String) throws -> [Int] {
    guard let array = value as? [Any] else { throw DataError("\(context): \(field) is missing or not an array") }
    return try array.map {
      // JSON numbers arrive as NSNumber: `as? Int` succeeds only for exactly representable values.
      guard let n = $0 as? Int, n >= 0 else {
        throw DataError("\(context): \(field) holds \(String(describing: $0).prefix(30)), not a non-negative integer")
      }
      return n
    }
  }

  /// Refuses JSON nested deeper than ``maxJSONDepth`` before a parser recurses into it.
  private static func checkNesting(_ header: UnsafeRawBufferPointer, source: String) throws {
    var depth = 0
    var inString = false
    var escaped = false
    for byte in header {
      if inString {
        if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
        continue
      }
      switch byte {
      case UInt8(ascii: "\""): inString = true
      case UInt8(ascii: "["), UInt8(ascii: "{"):
        depth += 1
        guard depth <= maxJSONDepth else {
          throw DataError("\(source): safetensors header nests deeper than \(maxJSONDepth) levels")
        }
      case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
      default: break
      }
    }
  }
}
