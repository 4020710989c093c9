import Foundation
import ModelFool

/// Reads a PyTorch state dict in any of its file formats, detected by their first bytes:
///
/// | format | first bytes | written by |
/// |---|---|---|
/// | zip | `PK\x03\x04` | `torch.save` since PyTorch 1.6 (default) |
/// | legacy | `\x80` (a pickle of the magic number) | `torch.save(..., _use_new_zipfile_serialization=False)`, PyTorch < 1.6 |
/// | safetensors | 8-byte header length, then `{` | `safetensors.torch.save_file` |
///
/// The zip format is an archive (stored entries, 64-byte aligned by torch; deflated entries are
/// accepted too) holding `NAME/data.pkl` (the state-dict pickle), `NAME/byteorder` (`little`),
/// `NAME/version` and one `NAME/data/KEY` file per storage. The pickle names storages by the
/// persistent id `('storage', torch.FloatStorage, KEY, location, numel)` and rebuilds tensors with
/// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`; only those symbols,
/// the storage types and `collections.OrderedDict` may appear (``TorchUnpickler``).
///
/// Every tensor is converted to Float32 (float16, bfloat16, float64 and integer tensors such as
/// `num_batches_tracked` included). A state dict saved inside a dict under `state_dict`,
/// `model_state_dict`, `model` or `module` is found, and a `module.` prefix that every name carries
/// (`nn.DataParallel`) is removed from all of them.
///
/// The readers never trust the file: see ``ZipArchive``, ``SafeTensorsFile``, ``PickleMachine``
/// and ``TorchUnpickler/gather(_:storage:context:)``. A bad file is a one-line `DataError`
/// naming it.
public enum TorchCheckpoint {
  /// A file format of PyTorch weights.
  public enum Format: String, Sendable {
    case zip, legacy, safetensors
  }

  /// The format of a file starting with `bytes`, nil when it is none of them.
  public static func format(of bytes: UnsafeRawBufferPointer) -> Format? {
    if bytes.count >= 4, bytes[0] == 0x50, bytes[1] == 0x4B, bytes[2] == 3, bytes[3] == 4 { return .zip }
    // Before the legacy test: a header length may start with 0x80; a legacy file's byte 8 lies in
    // its magic number (protocol 2) or frame length (protocol 4+), never '{'.
    if bytes.count >= 9, bytes[8] == UInt8(ascii: "{") { return .safetensors }
    if bytes.count >= 2, bytes[0] == 0x80, bytes[1] >= 2 { return .legacy }
    return nil
  }

  /// Reads the state dict at `path` (any format), in file order, names without a common
  /// `module.` prefix.
  public static func read(path: String) throws -> [(name: String, shape: [Int], values: [Float])] {
    try InputFile.requireRegular(path)
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError("\(path): cannot read file")
    }
    return try read(bytes: data, source: path)
  }

  /// Reads a state dict from `bytes` (any format); `source` names it in error messages.
  public static func read(bytes: Data, source: String) throws -> [(name: String, shape: [Int], values: [Float])] {
    try oneLineErrors { try bytes.withUnsafeBytes { raw in
      let tensors: [(name: String, shape: [Int], values: [Float])]
      switch format(of: raw) {
      case .zip?: tensors = try readZip(bytes: raw, source: source)
      case .legacy?: tensors = try LegacyTorchFile.parse(bytes: raw, source: source)
      case .safetensors?: tensors = try SafeTensorsFile.parse(bytes: raw, source: source).tensors
      case nil:
        throw DataError(
          "\(source): not a PyTorch checkpoint (neither zip 'PK\\x03\\x04', legacy torch.save pickle nor safetensors)")
      }
      return try stripPrefix(tensors, source: source)
    } }
  }

  /// Reads the state dict at `path` as tensors by name.
  public static func tensors(path: String) throws -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    for t in try read(path: path) { result[t.name] = Tensor(shape: t.shape, scalars: t.values) }
    return result
  }

  // MARK: - Zip format

  /// The zip format of `torch.save`.
  static func readZip(bytes: UnsafeRawBufferPointer, source: String) throws -> [(name: String, shape: [Int], values: [Float])] {
    let archive = try ZipArchive(bytes: bytes, source: source)
    let pickles = archive.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
    guard pickles.count == 1, let pickle = pickles.first else {
      throw DataError(
        "\(source): zip archive holds \(pickles.count) data.pkl entries, a torch.save file holds one")
    }
    let prefix = String(pickle.name.dropLast("data.pkl".count))
    if let order = archive[prefix + "byteorder"] {
      let text = try archive.withContents(order) { String(decoding: $0, as: UTF8.self) }
      guard text.trimmingCharacters(in: .whitespacesAndNewlines) == "little" else {
        throw DataError("\(source): byteorder '\(text.prefix(20))' is not supported (little-endian only)")
      }
    }

    let tables = TorchUnpickler()
    let entries: [(String, Int)] = try archive.withContents(pickle) { raw in
      var machine = tables.machine(bytes: raw, position: 0, source: "\(source) (\(pickle.name))")
      let object = try machine.load()
      return try tables.stateDictEntries(object, source: source)
    }

    var inflated: [String: [UInt8]] = [:]  // storages of deflated archives, read once
    return try entries.map { name, index in
      let key = tables.storages[tables.tensors[index].storage].key
      let context = "\(source): tensor \(name)"
      guard let entry = archive[prefix + "data/" + key] else {
        throw DataError("\(context): storage file \(prefix)data/\(key.prefix(40)) missing from the archive")
      }
      let values: [Float]
      if entry.method == 0 {
        values = try archive.withContents(entry) { try tables.gather(index, storage: $0, context: context) }
      } else {
        if inflated[key] == nil { inflated[key] = try archive.withContents(entry) { Array($0) } }
        values = try inflated[key]!.withUnsafeBytes { try tables.gather(index, storage: $0, context: context) }
      }
      return (name, tables.tensors[index].shape, values)
    }
  }

  // MARK: - Names

  /// Removes a `module.` prefix when every name has it (repeatedly: `module.module.`), so the
  /// names stay consistent; refuses a state dict naming a tensor twice.
  static func stripPrefix(
    _ tensors: [(name: String, shape: [Int], values: [Float])], source: String
  ) throws -> [(name: String, shape: [Int], values: [Float])] {
    var result = tensors
    let prefix = "module."
    while !result.isEmpty, result.allSatisfy({ $0.name.hasPrefix(prefix) && $0.name.count > prefix.count }) {
      result = result.map { (String($0.name.dropFirst(prefix.count)), $0.shape, $0.values) }
    }
    var seen = Set<String>()
    for t in result where !seen.insert(t.name).inserted {
      throw DataError("\(source): tensor \(t.name) appears twice")
    }
    return result
  }
}
