/// A value produced by the pickle-subset decoder (`PickleMachine`).
///
/// Lists and dicts are reference boxes, as in Python, so that an object fetched from the memo sees
/// later APPEND/SETITEM mutations. Symbols named by GLOBAL stay symbols: nothing is ever imported
/// or executed; the caller's `reduce` hook decides what a call of a known symbol builds.
indirect enum PickleValue {
  case none
  case bool(Bool)
  /// BININT*, LONG1/LONG4 that fit in 64 bits.
  case int(Int)
  /// LONG1/LONG4 wider than 64 bits: little-endian two's-complement bytes as pickled.
  case bigInt([UInt8])
  case float(Double)
  case string(String)
  case bytes([UInt8])
  case tuple([PickleValue])
  case list(PickleList)
  case dict(PickleDict)
  /// A symbol named by GLOBAL / STACK_GLOBAL, e.g. `collections.OrderedDict`.
  case global(module: String, name: String)
  /// An object built by the caller's hooks, identified by a tag and an index into the caller's table.
  case opaque(tag: String, index: Int)

  /// Dotted name of a `.global` symbol, nil for other values.
  var globalName: String? {
    if case .global(let module, let name) = self { return "\(module).\(name)" }
    return nil
  }

  /// Short type description for error messages.
  var kindName: String {
    switch self {
    case .none: return "None"
    case .bool: return "bool"
    case .int, .bigInt: return "int"
    case .float: return "float"
    case .string: return "str"
    case .bytes: return "bytes"
    case .tuple(let items): return "tuple of \(items.count)"
    case .list: return "list"
    case .dict: return "dict"
    case .global(let module, let name): return "symbol \(module).\(name)"
    case .opaque(let tag, _): return tag
    }
  }
}

/// A Python list (mutable, shared through the memo).
final class PickleList {
  var items: [PickleValue] = []
  /// Nesting depth (1 + the deepest item); final once the list is frozen.
  var depth = 1
  /// Set when the list is placed in another container: from then on it may not change, which
  /// makes a structure that contains itself impossible (see ``PickleMachine``).
  var frozen = false
}

/// A Python dict in insertion order (string keys replace earlier entries, as in Python).
final class PickleDict {
  private(set) var entries: [(key: PickleValue, value: PickleValue)] = []
  private var stringIndex: [String: Int] = [:]
  /// State given by BUILD (e.g. the `_metadata` attribute of a state dict); unused by readers here.
  var attributes: PickleValue?
  /// Nesting depth (1 + the deepest key, value or attribute); final once the dict is frozen.
  var depth = 1
  /// Set when the dict is placed in another container (see ``PickleList/frozen``).
  var frozen = false

  /// Sets `dict[key] = value`.
  func set(_ key: PickleValue, _ value: PickleValue) {
    if case .string(let name) = key {
      if let existing = stringIndex[name] {
        entries[existing].value = value
        return
      }
      stringIndex[name] = entries.count
    }
    entries.append((key, value))
  }

  /// The value stored under a string key.
  subscript(name: String) -> PickleValue? {
    stringIndex[name].map { entries[$0].value }
  }
}

/// Decoder for the pickle subset (protocols 0-5, binary opcodes plus a few text ones) that tensor
/// checkpoints use. It never executes anything: GLOBAL yields `.global` symbols (only those in
/// `allowedGlobals`; any other is refused by name), REDUCE/NEWOBJ call the `reduce` hook (which
/// knows a fixed list of symbols and throws for others), BINPERSID calls `persistentLoad`.
/// Errors are one-line `DataError`s naming `source` and the byte offset.
///
/// Hostile streams cannot exhaust the native stack or build cycles:
/// - every value has a nesting depth (scalars 0, containers 1 + their deepest item), and no value
///   deeper than `maxDepth` is built, so 100 KB of nested tuples is an error, not a deep recursion
///   when the value is later walked or freed;
/// - a list or dict is frozen once it is placed in another container (tuple, list, dict, BUILD
///   state, call arguments); mutating a frozen container, or putting a container in itself, is an
///   error. Python's pickler always completes a container before its parent takes it, so only
///   self-referencing structures (a state dict that contains itself) are refused.
/// The stack, mark stack and memo grow by at most one entry per byte of input.
struct PickleMachine {
  /// Builds the result of calling `callable(*args)` (REDUCE, NEWOBJ) for known symbols.
  typealias Reduce = (_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue
  /// Resolves a persistent id (BINPERSID / PERSID) to a value.
  typealias PersistentLoad = (_ pid: PickleValue) throws -> PickleValue

  let bytes: UnsafeRawBufferPointer
  let source: String
  /// Offset of the next byte to read.
  private(set) var position: Int
  var reduce: Reduce
  var persistentLoad: PersistentLoad

  /// Dotted names (`module.name`) that GLOBAL / STACK_GLOBAL may name; any other is an error.
  var allowedGlobals: Set<String>
  /// Deepest nesting of tuples, lists and dicts allowed (a state dict needs about 5).
  var maxDepth: Int

  /// A stack or memo slot: a value and its nesting depth (for lists and dicts the box's depth,
  /// which APPEND/SETITEM may raise, is authoritative).
  private struct Entry {
    var value: PickleValue
    var storedDepth: Int
    var depth: Int {
      switch value {
      case .list(let list): return list.depth
      case .dict(let dict): return dict.depth
      default: return storedDepth
      }
    }
  }

  private var stack: [Entry] = []
  private var marks: [Int] = []
  private var memo: [Int: Entry] = [:]

  init(
    bytes: UnsafeRawBufferPointer, position: Int, source: String,
    allowedGlobals: Set<String> = [], maxDepth: Int = 100,
    reduce: @escaping Reduce = { callable, _ in
      throw PickleFailure("unsupported callable \(callable.kindName)")
    },
    persistentLoad: @escaping PersistentLoad = { _ in throw PickleFailure("unexpected persistent id") }
  ) {
    self.bytes = bytes
    self.position = position
    self.source = source
    self.reduce = reduce
    self.persistentLoad = persistentLoad
    self.allowedGlobals = allowedGlobals
    self.maxDepth = maxDepth
  }

  /// Runs one pickle (up to and including STOP) from `position`, returns its value and leaves
  /// `position` just after the STOP opcode.
  mutating func load() throws -> PickleValue {
    stack.removeAll(keepingCapacity: true)
    marks.removeAll()
    memo.removeAll()
    while true {
      let opcodeOffset = position
      let opcode = try byte()
      do {
        if let result = try step(opcode) { return result }
      } catch let failure as PickleFailure {
        throw DataError(
          "\(source): pickle opcode 0x\(hex(opcode)) at byte \(opcodeOffset): \(failure.message)")
      }
    }
  }

  // MARK: - Opcodes

  /// Executes one opcode; returns the result at STOP.
  private mutating func step(_ opcode: UInt8) throws -> PickleValue? {
    switch opcode {
    case 0x80: _ = try byte()  // PROTO n
    case 0x95: _ = try read(8)  // FRAME: framing is only a hint, the data follows inline
    case UInt8(ascii: "."):  // STOP
      guard let result = stack.popLast() else { throw PickleFailure("STOP on an empty stack") }
      return result.value
    case UInt8(ascii: "("): marks.append(stack.count)  // MARK
    case UInt8(ascii: "0"): _ = try pop()  // POP
    case UInt8(ascii: "1"): _ = try popMark()  // POP_MARK
    case UInt8(ascii: "2"): stack.append(try top())  // DUP

    case UInt8(ascii: "N"): push(.none)
    case 0x88: push(.bool(true))  // NEWTRUE
    case 0x89: push(.bool(false))  // NEWFALSE
    case UInt8(ascii: "J"): push(.int(Int(Int32(bitPattern: UInt32(try littleEndian(4))))))
    case UInt8(ascii: "K"): push(.int(Int(try byte())))  // BININT1
    case UInt8(ascii: "M"): push(.int(Int(try littleEndian(2))))  // BININT2
    case 0x8a: push(try long(Int(try byte())))  // LONG1
    case 0x8b: push(try long(try length(4)))  // LONG4
    case UInt8(ascii: "I"):  // INT (text; "00"/"01" are False/True)
      let text = try line()
      if text == "00" { push(.bool(false)) } else if text == "01" { push(.bool(true)) } else {
        guard let value = Int(text) else { throw PickleFailure("bad INT '\(text.prefix(40))'") }
        push(.int(value))
      }
    case UInt8(ascii: "L"):  // LONG (text, trailing L)
      var text = try line()
      if text.hasSuffix("L") { text.removeLast() }
      guard let value = Int(text) else { throw PickleFailure("LONG '\(text.prefix(40))' beyond 64 bits") }
      push(.int(value))
    case UInt8(ascii: "G"):  // BINFLOAT: big-endian IEEE double
      let raw = try read(8)
      var bits: UInt64 = 0
      for b in raw { bits = bits << 8 | UInt64(b) }
      push(.float(Double(bitPattern: bits)))
    case UInt8(ascii: "F"):  // FLOAT (text)
      let text = try line()
      guard let value = Double(text) else { throw PickleFailure("bad FLOAT '\(text.prefix(40))'") }
      push(.float(value))

    case UInt8(ascii: "X"): push(.string(try utf8(try length(4))))  // BINUNICODE
    case 0x8c: push(.string(try utf8(Int(try byte()))))  // SHORT_BINUNICODE
    case 0x8d: push(.string(try utf8(try length(8))))  // BINUNICODE8
    case UInt8(ascii: "T"): push(.string(legacyString(try read(try length(4)))))  // BINSTRING
    case UInt8(ascii: "U"): push(.string(legacyString(try read(Int(try byte())))))  // SHORT_BINSTRING
    case UInt8(ascii: "B"): push(.bytes(try read(try length(4))))  // BINBYTES
    case UInt8(ascii: "C"): push(.bytes(try read(Int(try byte()))))  // SHORT_BINBYTES
    case 0x8e, 0x96: push(.bytes(try read(try length(8))))  // BINBYTES8, BYTEARRAY8

    case UInt8(ascii: "}"): push(.dict(PickleDict()))  // EMPTY_DICT
    case UInt8(ascii: "]"): push(.list(PickleList()))  // EMPTY_LIST
    case UInt8(ascii: ")"): push(.tuple([]), depth: 1)  // EMPTY_TUPLE
    case UInt8(ascii: "t"): try pushTuple(try popMark())  // TUPLE
    case 0x85: try pushTuple(try pop(1))  // TUPLE1
    case 0x86: try pushTuple(try pop(2))  // TUPLE2
    case 0x87: try pushTuple(try pop(3))  // TUPLE3
    case UInt8(ascii: "l"):  // LIST
      let list = PickleList()
      try append(try popMark(), to: list)
      push(.list(list))
    case UInt8(ascii: "d"):  // DICT
      let dict = PickleDict()
      try setItems(dict, try popMark())
      push(.dict(dict))

    case UInt8(ascii: "q"): memo[Int(try byte())] = try top()  // BINPUT
    case UInt8(ascii: "r"): memo[try length(4)] = try top()  // LONG_BINPUT
    case 0x94: memo[memo.count] = try top()  // MEMOIZE
    case UInt8(ascii: "p"): memo[try lineInt()] = try top()  // PUT
    case UInt8(ascii: "h"): stack.append(try recall(Int(try byte())))  // BINGET
    case UInt8(ascii: "j"): stack.append(try recall(try length(4)))  // LONG_BINGET
    case UInt8(ascii: "g"): stack.append(try recall(try lineInt()))  // GET

    case UInt8(ascii: "c"):  // GLOBAL "module\nname\n"
      let module = try line()
      let name = try line()
      try pushGlobal(module: module, name: name)
    case 0x93:  // STACK_GLOBAL
      let pair = try pop(2)
      guard case .string(let module) = pair[0].value, case .string(let name) = pair[1].value else {
        throw PickleFailure("STACK_GLOBAL needs two strings")
      }
      try pushGlobal(module: module, name: name)
    case UInt8(ascii: "R"), 0x81:  // REDUCE (callable, args), NEWOBJ (cls, args)
      let pair = try pop(2)
      guard case .tuple(let args) = pair[1].value else {
        throw PickleFailure("arguments are a \(pair[1].value.kindName), not a tuple")
      }
      let result = try reduce(pair[0].value, args)
      // A dict or list the hook builds holds values from the arguments: at most as deep.
      switch result {
      case .dict(let dict): dict.depth = max(dict.depth, pair[1].depth)
      case .list(let list): list.depth = max(list.depth, pair[1].depth)
      default: break
      }
      try push(checked: Entry(value: result, storedDepth: 0))
    case UInt8(ascii: "b"):  // BUILD
      let state = try pop()
      let object = try top().value
      guard case .dict(let dict) = object else {
        throw PickleFailure("BUILD on a \(object.kindName) is not supported")
      }
      try adopt([state], into: dict.frozen, identity: ObjectIdentifier(dict), depth: &dict.depth)
      dict.attributes = state.value
    case UInt8(ascii: "Q"): push(try persistentLoad(try pop().value))  // BINPERSID
    case UInt8(ascii: "P"): push(try persistentLoad(.string(try line())))  // PERSID

    case UInt8(ascii: "s"):  // SETITEM
      let pair = try pop(2)
      try setItems(try containerDict(), pair)
    case UInt8(ascii: "u"):  // SETITEMS
      let items = try popMark()
      try setItems(try containerDict(), items)
    case UInt8(ascii: "a"):  // APPEND
      let item = try pop()
      try append([item], to: try containerList())
    case UInt8(ascii: "e"):  // APPENDS
      let items = try popMark()
      try append(items, to: try containerList())

    default:
      throw PickleFailure("unsupported opcode")
    }
    return nil
  }

  // MARK: - Stack helpers

  /// Pushes a value that holds no container (scalars, symbols, hook results).
  private mutating func push(_ value: PickleValue, depth: Int = 0) {
    stack.append(Entry(value: value, storedDepth: depth))
  }

  private mutating func push(checked entry: Entry) throws {
    guard entry.depth <= maxDepth else { throw PickleFailure("nesting deeper than \(maxDepth) levels") }
    stack.append(entry)
  }

  private mutating func pushTuple(_ items: [Entry]) throws {
    var depth = 1
    try adopt(items, into: false, identity: nil, depth: &depth)
    try push(checked: Entry(value: .tuple(items.map(\.value)), storedDepth: depth))
  }

  private mutating func pushGlobal(module: String, name: String) throws {
    let dotted = "\(module).\(name)"
    guard allowedGlobals.contains(dotted) else {
      throw PickleFailure("global '\(dotted.prefix(200))' is not allowed")
    }
    push(.global(module: module, name: name))
  }

  /// Checks that `items` may go into a container (not `frozen`, not the container itself, not
  /// deeper than `maxDepth` once inside), raises the container's `depth`, and freezes the items.
  private func adopt(_ items: [Entry], into frozen: Bool, identity: ObjectIdentifier?, depth: inout Int) throws {
    guard !frozen else {
      throw PickleFailure("a list or dict is changed after being stored in another (self-referencing structure)")
    }
    for item in items {
      switch item.value {
      case .list(let list):
        guard ObjectIdentifier(list) != identity else { throw PickleFailure("a list contains itself") }
        list.frozen = true
      case .dict(let dict):
        guard ObjectIdentifier(dict) != identity else { throw PickleFailure("a dict contains itself") }
        dict.frozen = true
      default: break
      }
      guard item.depth < maxDepth else { throw PickleFailure("nesting deeper than \(maxDepth) levels") }
      depth = max(depth, item.depth + 1)
    }
  }

  private mutating func pop() throws -> Entry {
    guard stack.count > (marks.last ?? 0) else { throw PickleFailure("stack underflow") }
    return stack.removeLast()
  }

  private mutating func pop(_ count: Int) throws -> [Entry] {
    guard stack.count - (marks.last ?? 0) >= count else { throw PickleFailure("stack underflow") }
    let values = Array(stack.suffix(count))
    stack.removeLast(count)
    return values
  }

  private mutating func popMark() throws -> [Entry] {
    guard let mark = marks.popLast() else { throw PickleFailure("no MARK on the stack") }
    let values = Array(stack[mark...])
    stack.removeSubrange(mark...)
    return values
  }

  private func top() throws -> Entry {
    guard let value = stack.last else { throw PickleFailure("empty stack") }
    return value
  }

  private func recall(_ key: Int) throws -> Entry {
    guard let value = memo[key] else { throw PickleFailure("memo key \(key) never stored") }
    return value
  }

  private func containerDict() throws -> PickleDict {
    let value = try top().value
    guard case .dict(let dict) = value else { throw PickleFailure("SETITEM on a \(value.kindName)") }
    return dict
  }

  private func containerList() throws -> PickleList {
    let value = try top().value
    guard case .list(let list) = value else { throw PickleFailure("APPEND on a \(value.kindName)") }
    return list
  }

  private func append(_ items: [Entry], to list: PickleList) throws {
    try adopt(items, into: list.frozen, identity: ObjectIdentifier(list), depth: &list.depth)
    list.items.append(contentsOf: items.map(\.value))
  }

  private func setItems(_ dict: PickleDict, _ items: [Entry]) throws {
    guard items.count % 2 == 0 else { throw PickleFailure("odd number of dict items") }
    try adopt(items, into: dict.frozen, identity: ObjectIdentifier(dict), depth: &dict.depth)
    for i in stride(from: 0, to: items.count, by: 2) { dict.set(items[i].value, items[i + 1].value) }
  }

  // MARK: - Byte readers

  private mutating func byte() throws -> UInt8 {
    guard position < bytes.count else {
      throw DataError("\(source): truncated pickle stream at byte \(position) of \(bytes.count)")
    }
    defer { position += 1 }
    return bytes[position]
  }

  private mutating func read(_ count: Int) throws -> [UInt8] {
    guard count >= 0, count <= bytes.count - position else {
      throw DataError(
        "\(source): truncated pickle stream: \(count) bytes wanted at byte \(position) of \(bytes.count)")
    }
    defer { position += count }
    return Array(bytes[position..<(position + count)])
  }

  private mutating func littleEndian(_ count: Int) throws -> UInt64 {
    var value: UInt64 = 0
    for (i, b) in try read(count).enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
    return value
  }

  /// A length field of `count` bytes, checked to fit in the remaining data.
  private mutating func length(_ count: Int) throws -> Int {
    let value = try littleEndian(count)
    guard value <= UInt64(bytes.count) else {
      throw DataError("\(source): truncated pickle stream: length \(value) at byte \(position) of \(bytes.count)")
    }
    return Int(value)
  }

  /// LONG1/LONG4 payload: little-endian two's complement.
  private mutating func long(_ count: Int) throws -> PickleValue {
    let raw = try read(count)
    if count == 0 { return .int(0) }
    if count > 8 { return .bigInt(raw) }
    var value: UInt64 = 0
    for (i, b) in raw.enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
    if count < 8, raw[count - 1] & 0x80 != 0 { value |= ~0 << (8 * UInt64(count)) }  // sign-extend
    return .int(Int(Int64(bitPattern: value)))
  }

  private mutating func utf8(_ count: Int) throws -> String {
    let raw = try read(count)
    guard let text = String(validating: raw, as: UTF8.self) else {
      throw PickleFailure("string is not valid UTF-8")
    }
    return text
  }

  /// Python 2 `str` (BINSTRING): UTF-8 when valid, else Latin-1.
  private func legacyString(_ raw: [UInt8]) -> String {
    String(validating: raw, as: UTF8.self) ?? String(raw.map { Character(Unicode.Scalar($0)) })
  }

  /// Text up to the next newline (protocol-0 arguments), without the newline.
  private mutating func line() throws -> String {
    guard let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else {
      throw DataError("\(source): truncated pickle stream: unterminated line at byte \(position)")
    }
    defer { position = end + 1 }
    return legacyString(Array(bytes[position..<end]))
  }

  private mutating func lineInt() throws -> Int {
    let text = try line()
    guard let value = Int(text) else { throw PickleFailure("bad memo key '\(text)'") }
    return value
  }

  private func hex(_ value: UInt8) -> String {
    let digits = String(value, radix: 16)
    return digits.count == 1 ? "0" + digits : digits
  }
}

/// A problem inside one opcode; `PickleMachine.load` turns it into a `DataError` with file and offset.
struct PickleFailure: Error {
  let message: String
  init(_ message: String) { self.message = message }
}
