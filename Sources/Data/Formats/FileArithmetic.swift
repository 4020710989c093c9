/// Checked arithmetic on numbers read from files (sizes, strides, offsets, element counts): an
/// overflow is a one-line `DataError` naming the field, never a wrapped value that a later bounds
/// check would trust. Used by every reader of untrusted bytes, whatever the optimisation level.
enum FileArithmetic {
  /// `a * b`, or `DataError("CONTEXT: FIELD overflows (A x B)")`.
  static func multiply(_ a: Int, _ b: Int, field: String, context: String) throws -> Int {
    let (result, overflow) = a.multipliedReportingOverflow(by: b)
    guard !overflow else { throw DataError("\(context): \(field) overflows (\(a) x \(b))") }
    return result
  }

  /// `a + b`, or `DataError("CONTEXT: FIELD overflows (A + B)")`.
  static func add(_ a: Int, _ b: Int, field: String, context: String) throws -> Int {
    let (result, overflow) = a.addingReportingOverflow(b)
    guard !overflow else { throw DataError("\(context): \(field) overflows (\(a) + \(b))") }
    return result
  }

  /// The product of `values` (an element count from a shape), each checked to be >= 0.
  static func product(_ values: [Int], field: String, context: String) throws -> Int {
    var result = 1
    for v in values {
      guard v >= 0 else { throw DataError("\(context): \(field) \(values) holds a negative value") }
      result = try multiply(result, v, field: "\(field) \(values) product", context: context)
    }
    return result
  }

  /// An unsigned 64-bit field as an `Int`, or an error when it exceeds `Int.max`.
  static func int(_ value: UInt64, field: String, context: String) throws -> Int {
    guard value <= UInt64(Int.max) else { throw DataError("\(context): \(field) \(value) is too large") }
    return Int(value)
  }
}

/// Runs a reader of untrusted bytes, keeping its `DataError`s on one line: names taken from the
/// file (tensor names, zip entry names, pickle strings) may hold newlines or other control
/// characters, which become `?`.
func oneLineErrors<R>(_ body: () throws -> R) throws -> R {
  do {
    return try body()
  } catch var error as DataError {
    if error.description.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
      error.description = String(String.UnicodeScalarView(error.description.unicodeScalars.map {
        $0.value < 0x20 || $0.value == 0x7F ? "?" : $0
      }))
    }
    throw error
  }
}
