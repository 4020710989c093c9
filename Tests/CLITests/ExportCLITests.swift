import Foundation
import Testing

/// `modelfool export`: ONNX and safetensors files that come back (through `predict` on the ONNX
/// file, through `import --from FILE.safetensors --arch`) with the model's logits; refusals.
@Suite("modelfool binary: export")
struct ExportCLITests {
  /// The logits of `predict --model MODEL --dataset digits --index 0`, in top order.
  static func logits(_ model: String, in folder: String) throws -> [Double] {
    let r = try CLI.run(["predict", "--model", model, "--dataset", "digits", "--index", "0", "--top", "10", "--json"], in: folder)
    #expect(r.status == 0, "\(r.stderr)")
    let list = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
    return (list.first?["top"] as? [[String: Any]] ?? []).compactMap { $0["logit"] as? Double }
  }

  @Test func exportedFilesGiveTheModelsLogits() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let onnx = try CLI.run(["export", "--model", "zoo:digits-cnn", "--to", "out/d.onnx", "--json"], in: folder)
    #expect(onnx.status == 0, "\(onnx.stderr)")
    let summary = try onnx.object()
    #expect(summary["format"] as? String == "onnx" && summary["opset"] as? Int == 13 && summary["nodes"] as? Int == 11)
    #expect(summary["tensors"] as? Int == 8)  // three Conv and one Gemm, each weight and bias

    let safetensors = try CLI.run(["export", "--model", "zoo:digits-cnn", "--to", "d.safetensors"], in: folder)
    #expect(safetensors.status == 0, "\(safetensors.stderr)")
    #expect(safetensors.stdout.hasPrefix("exported zoo:digits-cnn (digits-cnn) as safetensors: 8 tensors"))
    let imported = try CLI.run(["import", "--from", "d.safetensors", "--arch", "digits-cnn", "--out", "back.h5"], in: folder)
    #expect(imported.status == 0, "\(imported.stderr)")

    let reference = try Self.logits("zoo:digits-cnn", in: folder)
    #expect(reference.count == 10)
    #expect(try Self.logits("back.h5", in: folder) == reference)
    let fromONNX = try Self.logits("out/d.onnx", in: folder)
    #expect(fromONNX.count == 10)
    let scale = reference.map(abs).max() ?? 1
    #expect(zip(fromONNX, reference).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
  }

  @Test func refusalsAreOneLine() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let badExtension = try CLI.run(["export", "--model", "zoo:digits-cnn", "--to", "d.pt"], in: folder)
    #expect(badExtension.status == 64)
    #expect(badExtension.stderr == "Error: cannot export to d.pt: unknown extension '.pt' (known: .onnx, .safetensors)\n")
    try FileManager.default.createDirectory(atPath: folder + "/taken.onnx", withIntermediateDirectories: false)
    let taken = try CLI.run(["export", "--model", "zoo:digits-cnn", "--to", "taken.onnx"], in: folder)
    #expect(taken.status == 1)
    #expect(taken.stderr == "Error: refusing to replace taken.onnx: it is a folder, not a regular file\n")
    let missing = try CLI.run(["export", "--model", "absent.h5", "--to", "m.onnx"], in: folder)
    #expect(missing.status != 0 && missing.stderr.hasPrefix("Error: no checkpoint at absent.h5"))
    #expect(!FileManager.default.fileExists(atPath: folder + "/m.onnx"))
  }
}
