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

  @Test func hostileModelsAreOneLineErrors() throws {
    let folder = try CLI.temporaryFolder()
    for (name, message) in [
      ("cycle", "Relu node 'first' is on a cycle (the graph is not acyclic)"),
      ("huge", "initializer 'w': shape [1048576, 1048576] has more than 2^31 elements"),
      ("subgraph", "Relu node 'with_body': attribute 'body' holds a subgraph (control flow is not supported)"),
    ] {
      let path = Self.fixtures + "onnx_hostile_\(name).onnx"
      let r = try CLI.run(["import", "--from", path, "--out", "x.h5"], in: folder)
      #expect(r.status == 1)
      #expect(r.stderr.split(separator: "\n").last == "Error: \(path): \(message) (--model)", "\(r.stderr)")
      #expect(!FileManager.default.fileExists(atPath: folder + "/x.h5"))
    }
  }
}
