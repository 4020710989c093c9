import CZlib

/// A read-only view of a ZIP archive held in memory, written for the zip format of `torch.save`
/// (and any ordinary archive): the end-of-central-directory record (ZIP64 record and locator when
/// a field needs them), the central directory, and each entry's local header to find its data.
/// Entries may be stored or deflated (raw deflate through zlib); every entry's CRC-32 is checked.
///
/// Nothing read from the archive is trusted: every offset, size and count is checked against the
/// archive's length (with overflow-checked arithmetic) before it is used or allocated, a deflated
/// entry may not claim more than deflate's maximum ratio (1032:1) of its compressed size, nor an
/// entry over 16 MiB more than 20:1 (``maxLargeEntryRatio``; weights do not compress), nor any
/// more than 2 GiB (``maxInflatedEntryBytes``) (and is
/// inflated into memory that grows only as data is produced), and a corrupt archive is a one-line `DataError` naming `source` and the field or entry concerned.
struct ZipArchive {
  /// Entries inflating to more than this (16 MiB) must compress by at most ``maxLargeEntryRatio``.
  static let largeEntryBytes = 16 << 20
  /// The largest compression ratio of a large deflated entry: model weights compress by about
  /// 1.1:1, so a 1 MB entry declaring 1 GB is refused before it is inflated.
  static let maxLargeEntryRatio = 20
  /// The most a deflated entry may inflate to: 2 GiB, whatever the archive's size (a tensor's
  /// storage of 512 million float32 values; `torch.save` stores entries, it does not deflate).
  static let maxInflatedEntryBytes = 1 << 31
  /// One file in the archive.
  struct Entry {
    let name: String
    /// 0 stored, 8 deflated.
    let method: Int
    let crc32: UInt32
    let compressedSize: Int
    let uncompressedSize: Int
    /// Offset of the entry's data in the archive (after its local header).
    let dataOffset: Int
  }

  let bytes: UnsafeRawBufferPointer
  let source: String
  /// Entries in central-directory order.
  private(set) var entries: [Entry] = []
  private var index: [String: Int] = [:]

  /// The entry called `name`, if any.
  subscript(name: String) -> Entry? { index[name].map { entries[$0] } }

  /// Reads the central directory of the archive in `bytes`.
  init(bytes: UnsafeRawBufferPointer, source: String) throws {
    self.bytes = bytes
    self.source = source
    let context = "\(source): zip"
    let end = try Self.findEndRecord(bytes, source: source)
    var entryCount = Int(u16(end + 10))
    var directorySize = Int(u32(end + 12))
    var directoryOffset = Int(u32(end + 16))
    guard u16(end + 4) == 0 || u16(end + 4) == 0xFFFF, u16(end + 6) == 0 || u16(end + 6) == 0xFFFF else {
      throw DataError("\(context): multi-disk archives are not supported")
    }
    if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
      // ZIP64: a locator just before the end record points at the ZIP64 end record.
      guard end >= 20, u32(end - 20) == 0x0706_4b50 else {
        throw DataError("\(context): end record needs ZIP64 fields but has no ZIP64 locator")
      }
      let record = try FileArithmetic.int(u64(end - 20 + 8), field: "ZIP64 end record offset", context: context)
      guard record <= end - 20, end - 20 - record >= 56, u32(record) == 0x0606_4b50 else {
        throw DataError("\(context): ZIP64 end record offset \(record) does not point at a ZIP64 end record")
      }
      guard u32(record + 16) == 0, u32(record + 20) == 0 else {
        throw DataError("\(context): multi-disk archives are not supported")
      }
      entryCount = try FileArithmetic.int(u64(record + 32), field: "ZIP64 entry count", context: context)
      directorySize = try FileArithmetic.int(u64(record + 40), field: "ZIP64 central directory size", context: context)
      directoryOffset = try FileArithmetic.int(u64(record + 48), field: "ZIP64 central directory offset", context: context)
    }
    let directoryEnd = try FileArithmetic.add(
      directoryOffset, directorySize, field: "central directory offset + size", context: context)
    guard directoryEnd <= end else {
      throw DataError(
        "\(context): central directory (offset \(directoryOffset), size \(directorySize)) lies outside the archive of \(bytes.count) bytes")
    }
    // Each central header takes at least 46 bytes: a claimed count beyond that is corrupt.
    guard entryCount <= directorySize / 46 else {
      throw DataError("\(context): entry count \(entryCount) does not fit a central directory of \(directorySize) bytes")
    }
    entries.reserveCapacity(entryCount)
    var position = directoryOffset
    for number in 0..<entryCount {
      let entry = try readCentralHeader(at: &position, limit: directoryEnd, number: number)
      guard index[entry.name] == nil else {
        throw DataError("\(context): entry \(entry.name.prefix(80)) appears twice")
      }
      index[entry.name] = entries.count
      entries.append(entry)
    }
  }

  /// Calls `body` with the uncompressed contents of `entry` (a slice of the archive when stored,
  /// an inflated copy when deflated), after checking its CRC-32.
  func withContents<R>(_ entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    let compressed = UnsafeRawBufferPointer(rebasing: bytes[entry.dataOffset..<(entry.dataOffset + entry.compressedSize)])
    switch entry.method {
    case 0:
      try checkCRC(compressed, entry)
      return try body(compressed)
    case 8:
      let inflated = try inflate(compressed, entry)
      return try inflated.withUnsafeBytes { raw in
        try checkCRC(raw, entry)
        return try body(raw)
      }
    default:
      throw DataError("\(source): zip entry \(entry.name): compression method \(entry.method) is not supported (stored or deflated only)")
    }
  }

  // MARK: - Records

  /// Offset of the end-of-central-directory record: searched backwards over the last 64 KiB +
  /// 22 bytes (its comment may be up to 65535 bytes), the comment length checked to end the file.
  private static func findEndRecord(_ bytes: UnsafeRawBufferPointer, source: String) throws -> Int {
    guard bytes.count >= 22 else { throw DataError("\(source): zip: \(bytes.count) bytes, too short for an archive") }
    let lowest = max(0, bytes.count - 22 - 0xFFFF)
    var at = bytes.count - 22
    while at >= lowest {
      if bytes[at] == 0x50, bytes[at + 1] == 0x4b, bytes[at + 2] == 5, bytes[at + 3] == 6 {
        let comment = Int(bytes[at + 20]) | Int(bytes[at + 21]) << 8
        if at + 22 + comment == bytes.count { return at }
      }
      at -= 1
    }
    throw DataError("\(source): zip: no end-of-central-directory record (truncated or not a zip archive)")
  }

  /// Parses the central header at `position` (advanced past it) and the entry's local header.
  private func readCentralHeader(at position: inout Int, limit: Int, number: Int) throws -> Entry {
    let context = "\(source): zip central header \(number)"
    guard limit - position >= 46, u32(position) == 0x0201_4b50 else {
      throw DataError("\(context): bad signature or truncated at byte \(position)")
    }
    let flags = u16(position + 8)
    let method = Int(u16(position + 10))
    let crc = u32(position + 16)
    var compressedSize = Int(u32(position + 20))
    var uncompressedSize = Int(u32(position + 24))
    let nameLength = Int(u16(position + 28))
    let extraLength = Int(u16(position + 30))
    let commentLength = Int(u16(position + 32))
    var localOffset = Int(u32(position + 42))
    let headerLength = 46 + nameLength + extraLength + commentLength
    guard limit - position >= headerLength else {
      throw DataError("\(context): name, extra field and comment (\(headerLength) bytes) overrun the central directory")
    }
    let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[(position + 46)..<(position + 46 + nameLength)])
    let name = String(decoding: nameBytes, as: UTF8.self)
    let entryContext = "\(source): zip entry \(name.prefix(80))"
    guard flags & 1 == 0 else { throw DataError("\(entryContext): encrypted entries are not supported") }

    // ZIP64 extended information (header 0x0001): 8-byte values, in this order, for exactly the
    // fields whose 32-bit value is 0xFFFFFFFF.
    var extra = position + 46 + nameLength
    let extraEnd = extra + extraLength
    while extraEnd - extra >= 4 {
      let id = u16(extra)
      let size = Int(u16(extra + 2))
      guard extraEnd - extra - 4 >= size else {
        throw DataError("\(entryContext): extra field 0x\(String(id, radix: 16)) of \(size) bytes overruns its header")
      }
      if id == 0x0001 {
        var field = extra + 4
        func next(_ what: String) throws -> Int {
          guard extra + 4 + size - field >= 8 else {
            throw DataError("\(entryContext): ZIP64 extra field lacks the \(what)")
          }
          defer { field += 8 }
          return try FileArithmetic.int(u64(field), field: "ZIP64 \(what)", context: entryContext)
        }
        if uncompressedSize == 0xFFFF_FFFF { uncompressedSize = try next("uncompressed size") }
        if compressedSize == 0xFFFF_FFFF { compressedSize = try next("compressed size") }
        if localOffset == 0xFFFF_FFFF { localOffset = try next("local header offset") }
      }
      extra += 4 + size
    }
    position += headerLength
    // An absolute cap on what a deflated entry may inflate to, whatever its compressed size
    // (stored entries are bounded by the archive itself): checked before anything else of it.
    guard method != 8 || uncompressedSize <= Self.maxInflatedEntryBytes else {
      throw DataError(
        "\(entryContext): declares \(uncompressedSize) uncompressed bytes, over the limit of \(Self.maxInflatedEntryBytes) bytes for a deflated entry")
    }

    // The local header repeats the name; its own extra field (torch pads it to align the data to
    // 64 bytes) decides where the data starts.
    guard localOffset <= bytes.count - 30, u32(localOffset) == 0x0403_4b50 else {
      throw DataError("\(entryContext): local header offset \(localOffset) does not point at a local header")
    }
    let localName = Int(u16(localOffset + 26))
    let localExtra = Int(u16(localOffset + 28))
    let dataOffset = localOffset + 30 + localName + localExtra
    let dataEnd = try FileArithmetic.add(dataOffset, compressedSize, field: "data offset + compressed size", context: entryContext)
    guard dataEnd <= bytes.count else {
      throw DataError(
        "\(entryContext): data (offset \(dataOffset), compressed size \(compressedSize)) lies outside the archive of \(bytes.count) bytes")
    }
    switch method {
    case 0:
      guard compressedSize == uncompressedSize else {
        throw DataError("\(entryContext): stored entry with compressed size \(compressedSize) != uncompressed size \(uncompressedSize)")
      }
    case 8:
      // Deflate never expands by more than 1032:1; a larger claim is corrupt (or a bomb).
      let bound = try FileArithmetic.multiply(compressedSize, 1032, field: "compressed size", context: entryContext)
      guard uncompressedSize <= bound + 64 else {
        throw DataError(
          "\(entryContext): uncompressed size \(uncompressedSize) is beyond deflate's ratio for \(compressedSize) compressed bytes")
      }
      // Weights hardly compress: a large entry that claims to, is a bomb (checked before inflating).
      guard uncompressedSize <= Self.largeEntryBytes || uncompressedSize / max(compressedSize, 1) <= Self.maxLargeEntryRatio else {
        throw DataError(
          "\(entryContext): uncompressed size \(uncompressedSize) from \(compressedSize) compressed bytes is a ratio above \(Self.maxLargeEntryRatio):1, refused for entries over \(Self.largeEntryBytes) bytes")
      }
    default: break  // refused when the entry is read, so that other entries stay readable
    }
    return Entry(
      name: name, method: method, crc32: crc, compressedSize: compressedSize,
      uncompressedSize: uncompressedSize, dataOffset: dataOffset)
  }

  // MARK: - Data

  /// Inflates a raw-deflate entry. Memory grows with the bytes zlib actually produces (1 MiB at a
  /// time), never with the declared size alone, and producing more or less than declared is an error.
  private func inflate(_ compressed: UnsafeRawBufferPointer, _ entry: Entry) throws -> [UInt8] {
    var stream = z_stream()
    guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw DataError("\(source): zip entry \(entry.name): zlib cannot start inflating")
    }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    output.reserveCapacity(min(entry.uncompressedSize, 1 << 20))
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var status = Z_OK
    var consumed = 0
    repeat {
      if stream.avail_in == 0 && consumed < compressed.count {
        let n = min(1 << 30, compressed.count - consumed)
        stream.next_in = UnsafeMutablePointer(
          mutating: compressed.baseAddress!.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
        stream.avail_in = UInt32(n)
        consumed += n
      }
      let produced = chunk.withUnsafeMutableBytes { out -> Int in
        stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = UInt32(out.count)
        status = CZlib.inflate(&stream, Z_NO_FLUSH)
        return out.count - Int(stream.avail_out)
      }
      guard produced <= entry.uncompressedSize - output.count else {
        throw DataError("\(source): zip entry \(entry.name): inflates to more than the declared \(entry.uncompressedSize) bytes")
      }
      output.append(contentsOf: chunk[0..<produced])
    } while status == Z_OK
    guard status == Z_STREAM_END else {
      throw DataError("\(source): zip entry \(entry.name): corrupt deflate data (zlib status \(status))")
    }
    guard output.count == entry.uncompressedSize else {
      throw DataError(
        "\(source): zip entry \(entry.name): inflates to \(output.count) bytes, not the declared \(entry.uncompressedSize)")
    }
    return output
  }

  private func checkCRC(_ data: UnsafeRawBufferPointer, _ entry: Entry) throws {
    var crc = crc32(0, nil, 0)
    var offset = 0
    while offset < data.count {
      let n = min(1 << 30, data.count - offset)
      crc = crc32(crc, data.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), UInt32(n))
      offset += n
    }
    guard UInt32(crc) == entry.crc32 else {
      throw DataError("\(source): zip entry \(entry.name): CRC-32 mismatch (corrupt data)")
    }
  }

  // MARK: - Little-endian fields (callers check the offsets)

  private func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
  private func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
  private func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}
