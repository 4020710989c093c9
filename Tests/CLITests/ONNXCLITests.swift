import Foundation
import ModelFoolData
import Testing

/// `import --from MODEL.onnx`, then `predict` and `explain` on the checkpoint and on the ONNX file
/// itself (Tests/Fixtures, made by make_onnx_fixtures.py).
@Suite("modelfool binary: ONNX models")
struct ONNXCLITests {
  static let fixtures = CLI.packageRoot + "/Tests/Fixtures/"

  /// Two 16x16 PNG images with fixed pixels.
  static func images(in folder: String) throws -> [String] {
    try (0..<2).map { k in
      let rgb = (0..<(16 * 16 * 3)).map { UInt8((($0 * 37 + k * 101) % 251)) }
      let path = folder + "/image\(k).png"
      try PNGImage.write(rgb: rgb, width: 16, height: 16, to: path)
      return path
    }
  }

  /// An image folder holding FIFOs named like images: the run skips them with one warning line
  /// and finishes (opening one would block for ever: it has no writer).
  @Test func fifosInAnImageFolderAreSkippedWithOneLine() throws {
    let folder = try CLI.temporaryFolder()
    try FileManager.default.createDirectory(atPath: folder + "/images/ant", withIntermediateDirectories: true)
    let rgb = (0..<(16 * 16 * 3)).map { UInt8(($0 * 37) % 251) }
    try PNGImage.write(rgb: rgb, width: 16, height: 16, to: folder + "/images/ant/a.png")
    #expect(mkfifo(folder + "/images/ant/b.png", 0o600) == 0 && mkfifo(folder + "/images/ant/c.JPEG", 0o600) == 0)
    let r = try CLI.run(["evaluate", "--model", Self.fixtures + "onnx_tiny_cnn_op18.onnx", "--images", "images", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try r.object()["count"] as? Int == 1)
    let lines = r.stderr.split(separator: "\n").filter { $0.contains("skipped") }
    #expect(lines == ["images: skipped 2 file(s) named like images that are not regular files (FIFOs, devices, sockets), e.g. ant/b.png"], "\(r.stderr)")
  }

  @Test func importedModelPredictsAndExplainsLikeTheFile() throws {
    let folder = try CLI.temporaryFolder()
    let onnx = Self.fixtures + "onnx_tiny_cnn_op18.onnx"
    let imported = try CLI.run(
      ["import", "--from", onnx, "--class-names", Self.fixtures + "onnx_tiny_cnn_classes.json", "--out", "m.h5", "--json"], in: folder)
    #expect(imported.status == 0, "\(imported.stderr)")
    #expect(try imported.object()["format"] as? String == "onnx")
    let images = try Self.images(in: folder)

    var tops: [[[String: Any]]] = []
    for model in ["m.h5", onnx] {
      let r = try CLI.run(["predict", "--model", model, "--input"] + images + ["--top", "5", "--json"], in: folder)
      #expect(r.status == 0, "\(r.stderr)")
      let list = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
      #expect(list.count == 2)
      tops.append(list.flatMap { ($0["top"] as? [[String: Any]]) ?? [] })
    }
    // The checkpoint and the file give the same logits; only the checkpoint knows class names.
    #expect(tops[0].map { $0["logit"] as? Double } == tops[1].map { $0["logit"] as? Double })
    #expect(Set(tops[0].compactMap { $0["name"] as? String }) == ["ant", "bee", "cat", "dog", "eel"])
    let probabilities = tops[0].prefix(5).compactMap { $0["probability"] as? Double }
    #expect(abs(probabilities.reduce(0, +) - 1) < 1e-5)

    // Grad-CAM at the default layer (the last Conv's output) and at a named tensor.
    var maps: [[Float]] = []
    for (model, layer) in [("m.h5", nil), (onnx, nil), ("m.h5", "/block_a/Conv_output_0")] as [(String, String?)] {
      let out = "maps\(maps.count).h5"
      let r = try CLI.run(
        ["explain", "--model", model, "--input"] + images + ["--method", "gradcam", "--out", "pictures\(maps.count)", "--save-maps", out, "--json"]
          + (layer.map { ["--layer", $0] } ?? []), in: folder)
      #expect(r.status == 0, "\(r.stderr)")
      let file = try HDF5File.open(folder + "/" + out)
      // Grad-CAM maps have the explained layer's size: 4x4 at the last Conv, 8x8 at block_a.
      #expect(try file.shape(at: "heatmaps") == (layer == nil ? [2, 4, 4] : [2, 8, 8]))
      maps.append(try file.readFloats(at: "heatmaps").values)
    }
    #expect(maps[0] == maps[1])
    #expect(maps[0] != maps[2])
    #expect(maps[0].contains { $0 > 0 })
  }

  /// Fine-tuning an ONNX model (the image methods scored, LRP and LRP_T through the graph's
  /// rules included), then scoring the fine-tuned checkpoint with `evaluate --fsr` (the same numbers) and attacking
  /// inputs of the ONNX file.
  @Test func finetuneEvaluateAndAttackTakeAnOnnxModel() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let onnx = Self.fixtures + "onnx_digits_op18.onnx"
    let tuned = try CLI.run(["finetune", "--model", onnx, "--dataset", "digits", "--steps", "2", "--eval-count", "100", "--out", "ft", "--json"], in: folder)
    #expect(tuned.status == 0, "\(tuned.stderr)")
    let report = try tuned.object()
    let methods = (report["methods"] as? [[String: Any]] ?? []).compactMap { $0["method"] as? String }
    #expect(methods == ["gradcam", "lrp_t", "simplegrad_t", "simplegrad", "lrp", "smoothgrad"])
    let scored = try CLI.run(["evaluate", "--model", "ft/model.h5", "--fsr", "--eval-count", "100", "--json"], in: folder)
    #expect(scored.status == 0, "\(scored.stderr)")
    func gradcam(_ o: [String: Any]) -> [String: Double]? {
      ((o["methods"] as? [[String: Any]])?.first { $0["method"] as? String == "gradcam" }?["mean_statistic"]) as? [String: Double]
    }
    let rescored = try scored.object()
    #expect(gradcam(report) != nil && gradcam(report) == gradcam(rescored))
    func lrp(_ o: [String: Any]) -> [String: Double]? {
      ((o["methods"] as? [[String: Any]])?.first { $0["method"] as? String == "lrp" }?["mean_statistic"]) as? [String: Double]
    }
    #expect(lrp(report) != nil && lrp(report) == lrp(rescored))
    let attacked = try CLI.run(
      ["attack-input", "--model", onnx, "--dataset", "digits", "--count", "2", "--steps", "3", "--epsilon", "0.05", "--json"], in: folder)
    #expect(attacked.status == 0, "\(attacked.stderr)")
    let linf = try attacked.object()["mean_perturbation_linf"] as? Double ?? -1
    #expect(linf > 0 && linf <= 0.05 + 1e-6, "\(linf)")
  }

  /// A chain of `count` Relu nodes from `x` [N, 4] to `y`, as ONNX protobuf bytes written here
  /// field by field (2.5 MB for 100,000 nodes: made when needed rather than committed).
  static func reluChain(_ count: Int) -> [UInt8] {
    func varint(_ v: Int) -> [UInt8] {
      var v = UInt64(v), out: [UInt8] = []
      repeat {
        out.append(UInt8(v & 0x7F) | (v >= 0x80 ? 0x80 : 0))
        v >>= 7
      } while v != 0
      return out
    }
    func bytes(_ field: Int, _ body: [UInt8]) -> [UInt8] { varint(field << 3 | 2) + varint(body.count) + body }
    func text(_ field: Int, _ s: String) -> [UInt8] { bytes(field, Array(s.utf8)) }
    func number(_ field: Int, _ v: Int) -> [UInt8] { varint(field << 3) + varint(v) }
    func tensorInfo(_ name: String) -> [UInt8] {
      let shape = bytes(1, text(2, "N")) + bytes(1, number(1, 4))
      return text(1, name) + bytes(2, bytes(1, number(1, 1) + bytes(2, shape)))
    }
    var graph: [UInt8] = []
    for i in 0..<count {
      graph += bytes(1, text(1, i == 0 ? "x" : "t\(i)") + text(2, i == count - 1 ? "y" : "t\(i + 1)") + text(4, "Relu"))
    }
    graph += text(2, "chain") + bytes(11, tensorInfo("x")) + bytes(12, tensorInfo("y"))
    return number(1, 8) + bytes(7, graph) + bytes(8, text(1, "") + number(2, 13))
  }

  /// The rows of the bad-invocation table for ONNX models: one line on stderr, exit 1, no trap.
  @Test(arguments: [
    ("cycle", "Relu node 'first' is on a cycle (the graph is not acyclic)"),
    ("undefined", "Add node 'reads_ghost' reads tensor 'ghost', which no node produces"),
    ("huge", "initializer 'w': shape [1048576, 1048576] has more than 2^31 elements"),
    ("unsupported", "Einsum node 'mystery': operator 'Einsum' is not supported"),
    ("subgraph", "Relu node 'with_body': attribute 'body' holds a subgraph (control flow is not supported)"),
    ("external_missing", "initializer 'w': external data file 'absent.bin' is missing"),
    ("chain", "100000 nodes, more than the 20000 allowed"),
  ])
  func hostileModelsAreOneLineErrors(name: String, message: String) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var path = Self.fixtures + "onnx_hostile_\(name).onnx"
    if name == "chain" {
      path = folder + "/chain.onnx"
      #expect(FileManager.default.createFile(atPath: path, contents: Data(Self.reluChain(100_000))))
    }
    for arguments in [["import", "--from", path, "--out", "x.h5"], ["predict", "--model", path, "--input", "none.png"]] {
      let r = try CLI.run(arguments, in: folder)
      #expect(!r.signalled && r.status == 1, "exit \(r.status)")
      let line = String(r.stderr.split(separator: "\n").last ?? "")
      #expect(line.hasPrefix("Error: \(path): \(message)") && line.hasSuffix(" (--model)"), "\(r.stderr)")
      #expect(!FileManager.default.fileExists(atPath: folder + "/x.h5"))
    }
  }
}
