import Foundation
import ModelFool
import ModelFoolData

/// Pictures of an input attack, one PNG per example:
/// `x | x_adv | |x_adv - x| | h(x) | h(x_adv) | target map`, each panel upsampled to the image size.
public enum InputAttackPictures {
  /// Writes `folder/example-<i>.png` for every example; images are `[N, C, H, W]` in [0, 1],
  /// maps `[N, h, w]`.
  public static func write(
    folder: String, original: Tensor, adversarial: Tensor, originalMaps: Tensor, adversarialMaps: Tensor,
    targetMaps: Tensor, scale: Int = 3
  ) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let (n, c, h, w) = (original.shape[0], original.shape[1], original.shape[2], original.shape[3])
    let difference = (adversarial - original).abs()
    let gap = 4, pw = w * scale, panels = 6
    let width = panels * pw + (panels - 1) * gap, height = h * scale
    func plane(_ t: Tensor, _ i: Int) -> [Float] { t.slice(axis: 0, i..<(i + 1)).scalars }
    func up(_ map: Tensor, _ i: Int) -> [Float] {
      let m = map.slice(axis: 0, i..<(i + 1))
      return m.reshaped([1, 1, m.shape[1], m.shape[2]]).resizeBilinear(height: h, width: w).scalars
    }
    for i in 0..<n {
      var out = [UInt8](repeating: 255, count: width * height * 3)
      let images = [plane(original, i), plane(adversarial, i), plane(difference, i)]
      let maxDiff = max(images[2].max() ?? 0, 1e-6)
      let maps = [up(originalMaps, i), up(adversarialMaps, i), up(targetMaps, i)]
      for y in 0..<h {
        for x in 0..<w {
          let p = y * w + x
          var colours: [(UInt8, UInt8, UInt8)] = []
          for (k, img) in images.enumerated() {
            let scaleBy: Float = k == 2 ? 1 / maxDiff : 1
            let v = { (ch: Int) in UInt8(min(max(img[(c >= 3 ? ch : 0) * h * w + p] * scaleBy, 0), 1) * 255) }
            colours.append((v(0), v(1), v(2)))
          }
          for m in maps {
            let peak = max(m.max() ?? 0, 1e-12)
            colours.append(ColorMap.sequential(m[p] / peak))
          }
          for (k, col) in colours.enumerated() {
            for dy in 0..<scale {
              for dx in 0..<scale {
                let o = ((y * scale + dy) * width + k * (pw + gap) + x * scale + dx) * 3
                out[o] = col.0
                out[o + 1] = col.1
                out[o + 2] = col.2
              }
            }
          }
        }
      }
      try PNGImage.write(rgb: out, width: width, height: height, to: "\(folder)/example-\(i).png")
    }
  }
}
