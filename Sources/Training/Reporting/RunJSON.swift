import Foundation

/// The JSON form of every run document (settings, reports, checkpoint records): snake_case keys in
/// sorted order, one line, non-finite numbers as the strings `inf`, `-inf` and `nan` (a diverged
/// metric must not make a report unwritable).
public enum RunJSON {
  /// `value` as one line of JSON.
  public static func encode<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = .sortedKeys
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  /// Decodes what ``encode(_:)`` wrote; `what` names the document in the one-line error.
  public static func decode<T: Decodable>(_ type: T.Type, from text: String, what: String) throws -> T {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let value: T
    do {
      value = try decoder.decode(type, from: Data(text.utf8))
    } catch {
      throw TrainingError("\(what) is not a valid \(T.self) document (\(describe(error)))")
    }
    if let document = value as? any CheckedDocument { try document.check(source: what) }
    return value
  }

  /// The top-level fields of `value` as display rows: strings as they are, anything else as
  /// compact JSON; absent (nil) fields are left out.
  public static func rows<T: Encodable>(_ value: T) throws -> [String: String] {
    let text = try encode(value)
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
    return object.mapValues { v in
      if let s = v as? String { return s }
      if let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]) {
        return String(decoding: data, as: UTF8.self)
      }
      return "\(v)"
    }
  }

  /// One line saying where a decoding error happened.
  static func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing '\(key.stringValue)'"
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.dataCorrupted(let c):
      return "at '\(c.codingPath.map(\.stringValue).joined(separator: "."))': \(c.debugDescription)"
    default: return "\(error)"
    }
  }
}

/// A document read back from a file whose invariants ``RunJSON/decode(_:from:what:)`` checks
/// once it is decoded (counts non-negative and consistent, statistics finite, ...): a file from
/// outside is hostile, and a value that decodes is not yet a valid one.
public protocol CheckedDocument {
  /// Throws a one-line error naming `source`, the field and its value when an invariant fails.
  func check(source: String) throws
}
