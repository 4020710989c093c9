import Foundation
import ModelFoolData
import Testing

/// Path of a file in Tests/Fixtures (written by Tests/Fixtures/make_torch_fixtures.py).
private func fixturePath(_ name: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

private func fixtureBytes(_ name: String) throws -> [UInt8] {
  [UInt8](try #require(FileManager.default.contents(atPath: fixturePath(name)), "missing fixture \(name)"))
}

/// The error message reading `bytes` throws (nil when it loads); fails the test for a non-DataError.
private func readError(_ bytes: [UInt8], _ source: String = "x") -> String? {
  do {
    _ = try TorchCheckpoint.read(bytes: Data(bytes), source: source)
    return nil
  } catch let error as DataError {
    return error.description
  } catch {
    Issue.record("\(source): not a DataError: \(error)")
    return "\(error)"
  }
}

/// A safetensors file from a header text and data bytes.
private func safetensors(_ header: String, _ data: [UInt8] = []) -> [UInt8] {
  let text = Array(header.utf8)
  return withUnsafeBytes(of: UInt64(text.count).littleEndian, Array.init) + text + data
}

private typealias Named = (name: String, shape: [Int], values: [Float])

private func byName(_ tensors: [Named]) -> [String: Named] {
  Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
}

@Suite struct TorchCheckpointTests {
  static let tinyCNN = [
    "tiny_cnn.pth", "tiny_cnn.pt", "tiny_cnn_deflate.pt", "tiny_cnn_zip64.pt", "tiny_cnn.safetensors",
    "tiny_cnn_torch.pt", "tiny_cnn_torch_legacy.pth", "tiny_cnn_torch.safetensors",
  ]

  @Test func formatsAreDetectedByMagicBytes() throws {
    let expected: [String: TorchCheckpoint.Format] = [
      "tiny_cnn.pth": .legacy, "tiny_cnn_torch_legacy.pth": .legacy, "legacy_small.pth": .legacy,
      "tiny_cnn.pt": .zip, "tiny_cnn_deflate.pt": .zip, "tiny_cnn_zip64.pt": .zip, "tiny_cnn_torch.pt": .zip,
      "tiny_cnn.safetensors": .safetensors, "tiny_cnn_torch.safetensors": .safetensors,
    ]
    for (name, format) in expected {
      let bytes = try fixtureBytes(name)
      #expect(bytes.withUnsafeBytes { TorchCheckpoint.format(of: $0) } == format, "\(name)")
    }
    #expect(readError([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == "x: not a PyTorch checkpoint (neither zip 'PK\\x03\\x04', legacy torch.save pickle nor safetensors)")
  }

  /// The same weights in every format (our writers and the real torch.save / safetensors, zip
  /// stored, deflated and ZIP64, legacy) read to bit-identical tensors.
  @Test func everyFormatGivesBitIdenticalTensors() throws {
    let reference = try TorchCheckpoint.read(path: fixturePath("tiny_cnn.pth"))
    #expect(reference.map(\.name) == [
      "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
      "features.6.weight", "features.6.bias", "classifier.weight", "classifier.bias",
    ])
    #expect(reference.map(\.shape) == [[4, 1, 3, 3], [4], [8, 4, 3, 3], [8], [8, 8, 3, 3], [8], [3, 8], [3]])
    #expect(reference.reduce(0) { $0 + $1.values.count } == 947)
    #expect(Set(reference.flatMap(\.values)).count > 900)  // real data, not zeros
    for name in Self.tinyCNN.dropFirst() {
      let tensors = byName(try TorchCheckpoint.read(path: fixturePath(name)))
      // tiny_cnn.pt and its variants hold {"epoch": 3, "state_dict": {"module.<name>": ...}}.
      #expect(Set(tensors.keys) == Set(reference.map(\.name)), "\(name)")
      for r in reference {
        let t = try #require(tensors[r.name], "\(name): \(r.name)")
        #expect(t.shape == r.shape, "\(name): \(r.name)")
        #expect(t.values.map(\.bitPattern) == r.values.map(\.bitPattern), "\(name): \(r.name)")
      }
    }
    // The legacy-only reader agrees on the legacy files.
    let legacy = try LegacyTorchFile.read(path: fixturePath("tiny_cnn_torch_legacy.pth"))
    #expect(legacy.map(\.name) == reference.map(\.name))
    #expect(legacy.flatMap(\.values).map(\.bitPattern) == reference.flatMap(\.values).map(\.bitPattern))
  }

  /// float16, bfloat16, float64, int64 (0-dim num_batches_tracked), int32, uint8 and bool convert
  /// to Float32 exactly; a transposed view of a storage is read through its strides.
  @Test(arguments: ["dtypes.pt", "dtypes_torch.pt", "dtypes.safetensors", "dtypes_torch.safetensors"])
  func dtypesConvertToFloat32(_ file: String) throws {
    let t = byName(try TorchCheckpoint.read(path: fixturePath(file)))
    #expect(t.count == 9)
    #expect(t["half"]?.shape == [2, 3] && t["half"]?.values == [0.5, -1.25, 2, 3.75, -0.125, 65504])
    #expect(t["bfloat16"]?.values == [1, -2.5, 3.140625, 0.0009765625])
    #expect(t["double"]?.values == [Float(0.1 as Double), Float(-1e10 as Double), Float(1.0 / 3.0 as Double)])
    #expect(t["bn.num_batches_tracked"]?.shape == [] && t["bn.num_batches_tracked"]?.values == [12345])
    #expect(t["int32"]?.values == [-7, 2147483647])
    #expect(t["uint8"]?.values == [0, 128, 255])
    #expect(t["flag"]?.values == [1, 0])
    #expect(t["grid"]?.values == [-1, -0.5, 0, 0.5, 1, 1.5])
    #expect(t["grid_t"]?.shape == [3, 2] && t["grid_t"]?.values == [-1, 0.5, -0.5, 1, 0, 1.5])
  }

  @Test func safetensorsMetadataAndPrefixRules() throws {
    // A `module.` prefix is removed only when every name has it.
    let f32: [UInt8] = [0, 0, 0x80, 0x3f]  // 1.0
    let partial = safetensors(
      #"{"module.a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[],"data_offsets":[4,8]},"__metadata__":{"format":"pt"}}"#,
      f32 + f32)
    let tensors = try TorchCheckpoint.read(bytes: Data(partial), source: "p")
    #expect(tensors.map(\.name) == ["module.a", "b"] && tensors.map(\.values) == [[1], [1]])
    let twice = safetensors(#"{"module.module.a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, f32)
    #expect(try TorchCheckpoint.read(bytes: Data(twice), source: "p").map(\.name) == ["a"])
    // Stripping stops as soon as one name lacks the prefix, so names never collide.
    let nested = safetensors(
      #"{"module.a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"module.module.a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
      f32 + f32)
    #expect(try TorchCheckpoint.read(bytes: Data(nested), source: "p").map(\.name) == ["a", "module.a"])
  }

  @Test func safetensorsWithRepeatedOrOverlappingTensorsAreRefused() throws {
    let f32: [UInt8] = [0, 0, 0x80, 0x3f]
    // JSONSerialization would keep the second "a" only.
    let repeated = safetensors(
      #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32 + f32)
    #expect { try TorchCheckpoint.read(bytes: Data(repeated), source: "p") } throws: { "\($0)" == "p: safetensors header names a more than once" }
    // Two tensors sharing bytes 4..<8.
    let overlapping = safetensors(
      #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32 + f32)
    #expect { try TorchCheckpoint.read(bytes: Data(overlapping), source: "p") } throws: {
      "\($0)" == "p: tensors a [0, 8] and b [4, 8] overlap in the data section"
    }
    // Empty tensors at one offset do not overlap anything.
    let empty = safetensors(
      #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, f32)
    #expect(try TorchCheckpoint.read(bytes: Data(empty), source: "p").map(\.values) == [[], [1]])
  }

  /// Files that crashed readers (or would have): each is a one-line error naming the file and field.
  @Test func hostileFilesGiveOneLineErrors() throws {
    let expected: [String: String] = [
      // size (3,) stride (2^62,): (3 - 1) * 2^62 wraps to a negative index without checks.
      "hostile_stride.pth": "tensor w: stride [4611686018427387904] x size overflows (2 x 4611686018427387904)",
      // size (2^40,) stride (0,) over 1 element: an allocation of 4 TiB without checks.
      "hostile_size.pth": "tensor w: size [1099511627776] has 1099511627776 elements, more than its storage of 1 (broadcast views are not supported)",
      "hostile_numel.pt": "storage 0 numel 2305843009213693952 overflows (x 4 bytes)",
      "hostile_cycle.pt": "a dict contains itself",
      "hostile_nested.pt": "nesting deeper than 100 levels",
      "hostile_global.pt": "global 'os.system' is not allowed",
      // 64 MiB of zeros from 64 KB: refused from the sizes in the directory, before inflating.
      "hostile_ratio.pth": "zip entry archive/data/0: uncompressed size 67108864 from 65232 compressed bytes is a ratio above 20:1, refused for entries over 16777216 bytes",
      // 146 bytes declaring an entry of 3,000,000,000 bytes: over the 2 GiB cap of a deflated entry.
      "hostile_entry.pth": "zip entry archive/data/0: declares 3000000000 uncompressed bytes, over the limit of 2147483648 bytes for a deflated entry",
    ]
    for (name, fragment) in expected {
      let path = fixturePath(name)
      var message: String?
      do { _ = try TorchCheckpoint.read(path: path) } catch let error as DataError { message = error.description }
      let text = try #require(message, "\(name) did not throw a DataError")
      #expect(text.hasPrefix(path), "\(text)")
      #expect(text.contains(fragment), "\(text)")
      #expect(!text.contains("\n"))
    }
  }

  /// Pickles that would recurse, loop or build cycles, inside a legacy file: one-line errors.
  @Test func pickleCyclesNestingAndGlobalsAreRefused() throws {
    // Legacy header: magic number, protocol 1001, empty sys_info; then the pickle under test.
    let header: [UInt8] =
      [0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]
      + [0x80, 2, 0x4d, 0xe9, 0x03, 0x2e] + [0x80, 2, 0x7d, 0x2e]
    func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }
    let start = header.count + 2
    let cases: [([UInt8], String)] = [
      // d = {}; L = []; L.append(d); d["k"] = L: d changes after L took it.
      (ascii("}") + [0x94] + ascii("X") + [1, 0, 0, 0] + ascii("k]") + [0x94] + ascii("h") + [0] + ascii("as."),
       "pickle opcode 0x73 at byte \(start + 13): a list or dict is changed after being stored in another (self-referencing structure)"),
      // L = []; L.append(L)
      (ascii("]") + [0x94] + ascii("h") + [0] + ascii("a."), "pickle opcode 0x61 at byte \(start + 4): a list contains itself"),
      // 100 KB of nested lists: MARK x 50000, LIST x 50000.
      ([UInt8](repeating: 0x28, count: 50_000) + [UInt8](repeating: 0x6c, count: 50_000) + ascii("."),
       "pickle opcode 0x6c at byte \(start + 50_000 + 100): nesting deeper than 100 levels"),
      (ascii("h") + [7] + ascii("."), "pickle opcode 0x68 at byte \(start): memo key 7 never stored"),
      (ascii("cbuiltins\neval\n."), "pickle opcode 0x63 at byte \(start): global 'builtins.eval' is not allowed"),
    ]
    for (pickle, fragment) in cases {
      let message = try #require(readError(header + [0x80, 2] + pickle), "\(fragment)")
      #expect(message == "x: " + fragment)
    }
  }

  /// Corrupt ZIP structures: every field is checked before it is used.
  @Test func corruptZipFieldsAreRefused() throws {
    let zip = try fixtureBytes("tiny_cnn.pt")
    let end = zip.count - 22
    #expect(Array(zip[end..<(end + 4)]) == [0x50, 0x4b, 5, 6])
    func patched(_ offset: Int, _ value: UInt32, width: Int = 4) -> [UInt8] {
      var b = zip
      for i in 0..<width { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
      return b
    }
    let directory = Int(zip[end + 16]) | Int(zip[end + 17]) << 8 | Int(zip[end + 18]) << 16
    #expect(Array(zip[directory..<(directory + 4)]) == [0x50, 0x4b, 1, 2])
    #expect(readError(patched(end + 10, 0xFFFE, width: 2))?.contains("entry count 65534 does not fit a central directory") == true)
    #expect(readError(patched(end + 16, 0x7FFF_FFF0))?.contains("lies outside the archive") == true)
    // Claimed ZIP64 without a locator.
    #expect(readError(patched(end + 16, 0xFFFF_FFFF))?.contains("no ZIP64 locator") == true)
    // First central header: compressed and uncompressed size 2^31 - 1, then a bad local offset.
    var huge = patched(directory + 20, 0x7FFF_FFFF)
    for i in 0..<4 { huge[directory + 24 + i] = huge[directory + 20 + i] }
    #expect(readError(huge)?.contains("lies outside the archive of \(zip.count) bytes") == true)
    #expect(readError(patched(directory + 42, 0x7FFF_FFFF))?.contains("does not point at a local header") == true)
    // Method 12 (bzip2), and a stored entry whose sizes disagree.
    #expect(readError(patched(directory + 10, 12, width: 2))?.contains("compression method 12 is not supported") == true)
    #expect(readError(patched(directory + 20, 3))?.contains("compressed size 3 != uncompressed size") == true)
    // One flipped byte of tensor data: the CRC-32 catches it.
    var flipped = zip
    flipped[zip.count / 2] ^= 0x01
    #expect(readError(flipped)?.contains("CRC-32 mismatch") == true)
    // A deflated entry claiming more than deflate's 1032:1 ratio.
    let deflated = try fixtureBytes("tiny_cnn_deflate.pt")
    let dEnd = deflated.count - 22
    let dDir = Int(deflated[dEnd + 16]) | Int(deflated[dEnd + 17]) << 8 | Int(deflated[dEnd + 18]) << 16
    var bomb = deflated
    for (i, b) in [0xFF, 0xFF, 0xFF, 0x7F].enumerated() { bomb[dDir + 24 + i] = UInt8(b) }
    #expect(readError(bomb)?.contains("is beyond deflate's ratio") == true)
    // A deflated entry declaring fewer bytes than it inflates to.
    var short = deflated
    for (i, b) in [10, 0, 0, 0].enumerated() { short[dDir + 24 + i] = UInt8(b) }
    #expect(readError(short)?.contains("inflates to more than the declared 10 bytes") == true)
  }

  @Test func corruptSafetensorsHeadersAreRefused() throws {
    let cases: [([UInt8], String)] = [
      (withUnsafeBytes(of: (UInt64(1) << 63).littleEndian, Array.init) + Array("{}".utf8),
       "x: safetensors header length 9223372036854775808 exceeds the file's 2 remaining bytes"),
      (safetensors("{\"a\":" + String(repeating: "[", count: 10_000)), "x: safetensors header nests deeper than 8 levels"),
      (safetensors(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,8],"data_offsets":[0,0]}}"#),
       "x: tensor w: shape [4294967296, 4294967296, 8] product overflows (4294967296 x 4294967296)"),
      (safetensors(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [0, 0, 0, 0]),
       "x: tensor w: data_offsets [0, 8] lie outside the data section of 4 bytes"),
      (safetensors(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]),
       "x: tensor w: data_offsets [0, 4] hold 4 bytes, F32 [2] needs 8"),
      (safetensors(#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]),
       "x: tensor w: shape holds -2, not a non-negative integer"),
      (safetensors(#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]),
       "x: tensor w: shape holds 1.5, not a non-negative integer"),
      (safetensors(#"{"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, [0]),
       "x: tensor w: dtype F8_E4M3 is not supported"),
      (safetensors(#"{"w":"#), "x: safetensors header is not valid JSON"),
    ]
    for (bytes, fragment) in cases {
      let message = try #require(readError(bytes), "\(fragment)")
      #expect(message.hasPrefix(fragment), "\(message)")
    }
  }

  /// Every fixture with bytes flipped or cut at many positions either loads or throws a one-line
  /// DataError; none crashes, hangs or allocates without bound. About 1500 positions per file;
  /// every position with MODELFOOL_FUZZ_ALL=1 (75 s in a debug build, all checks on: passes).
  @Test(arguments: [
    "tiny_cnn.pth", "tiny_cnn.pt", "tiny_cnn_deflate.pt", "tiny_cnn_zip64.pt", "tiny_cnn.safetensors",
    "tiny_cnn_torch.pt", "tiny_cnn_torch_legacy.pth", "dtypes.pt", "dtypes.safetensors", "legacy_small.pth",
  ])
  func flippedAndTruncatedBytesNeverCrash(_ file: String) throws {
    let original = try fixtureBytes(file)
    let step = ProcessInfo.processInfo.environment["MODELFOOL_FUZZ_ALL"] != nil ? 1 : max(1, original.count / 1500)
    var loaded = 0, refused = 0
    func attempt(_ bytes: [UInt8], _ what: String) {
      if let message = readError(bytes, what) {
        #expect(!message.contains("\n"), "\(what): \(message)")
        refused += 1
      } else {
        loaded += 1
      }
    }
    for position in stride(from: 0, to: original.count, by: step) {
      for change: UInt8 in [0xFF, 0x80, 0x01] {
        var bytes = original
        bytes[position] ^= change
        attempt(bytes, "\(file) ^\(change) at \(position)")
      }
      var bytes = original
      bytes[position] = 0x7F
      attempt(bytes, "\(file) 0x7F at \(position)")
      attempt(Array(original.prefix(position)), "\(file) cut at \(position)")
    }
    #expect(refused > 0 && loaded + refused == 5 * ((original.count + step - 1) / step))
  }
}
