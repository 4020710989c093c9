import Foundation
import ModelFoolData
import Testing

/// Path of a file in Tests/Fixtures (located from this source file; the tests run from a local build).
private func fixturePath(_ name: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

/// Writes `bytes` to a fresh temporary file and returns its path.
private func temporaryFile(_ bytes: [UInt8], _ name: String) throws -> String {
  let path = FileManager.default.temporaryDirectory
    .appendingPathComponent("modelfool-\(ProcessInfo.processInfo.processIdentifier)-\(name)").path
  try Data(bytes).write(to: URL(fileURLWithPath: path))
  return path
}

/// The DataError message `read(path:)` throws, or nil when it does not throw a DataError.
private func readError(_ path: String) -> String? {
  do {
    _ = try LegacyTorchFile.read(path: path)
    return nil
  } catch let error as DataError {
    return error.description
  } catch {
    return nil
  }
}

@Suite struct LegacyTorchFileTests {
  /// Fixture written by Tests/Fixtures/make_legacy_pth.py (torch's legacy writer, emulated).
  let fixture = fixturePath("legacy_small.pth")

  @Test func readsFixtureTensorsInFileOrderWithExactValues() throws {
    let tensors = try LegacyTorchFile.read(path: fixture)
    #expect(tensors.map(\.name) == ["conv.weight", "fc.weight_t", "shared.full", "bn.num_batches_tracked"])
    #expect(tensors.map(\.shape) == [[2, 3], [3, 2], [12], []])
    // Contiguous float32.
    #expect(tensors[0].values == [0.5, -1.25, 2, 3.75, -0.125, 100])
    // View of storage s[k] = 0.5 k - 1 at offset 2 with strides (1, 3): v[i][j] = s[2 + i + 3 j].
    #expect(tensors[1].values == [0, 1.5, 0.5, 2, 1, 2.5])
    // The same storage read whole (it is written once in the data section).
    #expect(tensors[2].values == (0..<12).map { 0.5 * Float($0) - 1 })
    // 0-dim int64 tensor converted to Float.
    #expect(tensors[3].values == [42])
  }

  @Test func fixtureIsTheGeneratorsOutput() throws {
    let bytes = [UInt8](try #require(FileManager.default.contents(atPath: fixture)))
    #expect(bytes.count == 781)
    // Storage data section: 3 storages (6 + 12 float32, 1 int64) each with an 8-byte count.
    let dataBytes = 3 * 8 + (6 + 12) * 4 + 8
    #expect(Array(bytes.suffix(8)) == [42, 0, 0, 0, 0, 0, 0, 0])
    #expect(Array(bytes.suffix(dataBytes).prefix(8)) == [6, 0, 0, 0, 0, 0, 0, 0])
  }

  @Test func truncatedFilesGiveOneLineErrorsNamingTheFile() throws {
    let bytes = [UInt8](try #require(FileManager.default.contents(atPath: fixture)))
    // Cut inside the state-dict pickle, inside the storage-key pickle, and inside the last storage.
    for cut in [300, 650, bytes.count - 3] {
      let path = try temporaryFile(Array(bytes.prefix(cut)), "truncated-\(cut).pth")
      defer { try? FileManager.default.removeItem(atPath: path) }
      let message = try #require(readError(path), "cut at \(cut) did not throw a DataError")
      #expect(message.hasPrefix(path + ":"))
      #expect(message.contains("truncated"))
      #expect(!message.contains("\n"))
    }
  }

  @Test func badMagicZipAndUnknownOpcodeAreRejected() throws {
    let bytes = [UInt8](try #require(FileManager.default.contents(atPath: fixture)))
    // A plain pickle of the integer 7 instead of the magic number.
    let notTorch = try temporaryFile([0x80, 0x02, 0x4B, 0x07, 0x2E], "not-torch.pth")
    defer { try? FileManager.default.removeItem(atPath: notTorch) }
    #expect(readError(notTorch) == "\(notTorch): bad magic (not a legacy torch.save file)")
    // Zip-format (torch >= 1.6) checkpoints are named as such.
    let zip = try temporaryFile([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0], "zip.pth")
    defer { try? FileManager.default.removeItem(atPath: zip) }
    #expect(readError(zip)?.contains("zip-format") == true)
    // Byte 189 starts the GLOBAL of _rebuild_tensor_v2; 0xFF is no pickle opcode.
    var corrupt = bytes
    corrupt[189] = 0xFF
    let bad = try temporaryFile(corrupt, "bad-opcode.pth")
    defer { try? FileManager.default.removeItem(atPath: bad) }
    #expect(readError(bad) == "\(bad): pickle opcode 0xff at byte 189: unsupported opcode")
    #expect(readError("/nonexistent/model.pth") == "/nonexistent/model.pth: file not found")
  }

  @Test func unknownGlobalsAreNeverExecutedButRefused() throws {
    var bytes = [UInt8](try #require(FileManager.default.contents(atPath: fixture)))
    // The GLOBAL at byte 189 names 'torch._utils _rebuild_tensor_v2'; one changed letter makes it an
    // unknown symbol, which is refused where the pickle names it, before any call.
    let offset = 189 + 1 + "torch._utils\n_rebuild_".utf8.count
    #expect(bytes[offset] == UInt8(ascii: "t"))
    bytes[offset] = UInt8(ascii: "x")
    let path = try temporaryFile(bytes, "unknown-global.pth")
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(
      readError(path)
        == "\(path): pickle opcode 0x63 at byte 189: global 'torch._utils._rebuild_xensor_v2' is not allowed")
  }

  /// The real EfficientNet-Lite0 checkpoint, when MODELFOOL_EFFNET_PTH points at it.
  @Test(
    .enabled(
      if: ProcessInfo.processInfo.environment["MODELFOOL_EFFNET_PTH"] != nil,
      "set MODELFOOL_EFFNET_PTH to efficientnet-lite0-57934424.pth to read the real checkpoint"))
  func readsEfficientNetLite0Checkpoint() throws {
    let path = ProcessInfo.processInfo.environment["MODELFOOL_EFFNET_PTH"]!
    let clock = ContinuousClock()
    let start = clock.now
    let tensors = try LegacyTorchFile.read(path: path)
    print("LegacyTorchFile: read \(tensors.count) tensors from \(path) in \(clock.now - start)")
    #expect(tensors.count == 296)
    #expect(tensors.reduce(0) { $0 + $1.values.count } == 4_694_073)
    let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
    #expect(tensors.first?.name == "_conv_stem.weight")
    #expect(tensors.last?.name == "_fc.bias")
    #expect(byName["_conv_stem.weight"]?.shape == [32, 3, 3, 3])
    #expect(byName["_fc.weight"]?.shape == [1000, 1280])
    #expect(byName["_blocks.15._project_conv.weight"]?.shape == [320, 1152, 1, 1])
    #expect(byName["_bn1.num_batches_tracked"]?.shape == [])
    // _conv_stem.weight is stored permuted (strides 1, 32, 288, 96): values from a numpy reader.
    let stem = try #require(byName["_conv_stem.weight"]).values
    #expect(Array(stem.prefix(3)) == [-1.1103360652923584, -1.3087704181671143, -0.010156914591789246])
    #expect(abs(stem.reduce(0) { $0 + Double($1) } - -26.811376610887237) < 1e-9)
    let fc = try #require(byName["_fc.weight"]).values
    #expect(Array(fc.prefix(3)) == [-0.04561043530702591, -0.09470871090888977, -0.05684146657586098])
    #expect(abs(fc.reduce(0) { $0 + Double(abs($1)) } - 65336.67289497613) < 1e-4)
    #expect(byName["_bn0.running_var"]?.values.prefix(3) == [1.631428599357605, 70.37157440185547, 14.1073579788208])
  }
}
