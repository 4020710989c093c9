import ModelFool
import Testing

/// The three convolution primitives against naive loops, for random shapes and geometries
/// (strides, asymmetric padding, dilation, groups, same-size outputs that take the fast paths).
@Suite("Convolution reference")
struct ConvolutionReferenceTests {
  /// One random problem: input `[n, c, h, w]`, weight `[o, c / groups, kh, kw]` and a geometry.
  struct Problem: CustomTestStringConvertible, Sendable {
    let n: Int, c: Int, h: Int, w: Int, o: Int, groups: Int
    let geometry: ConvGeometry
    var testDescription: String { "n\(n) c\(c) \(h)x\(w) o\(o) g\(groups) \(geometry)" }
  }

  /// Random problems from a fixed seed, plus the benchmark's 3x3 pad-1 layers.
  static let problems: [Problem] = {
    var g = SeededGenerator(seed: 42)
    func pick(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(g.next() % UInt64(range.count)) }
    var list = [
      Problem(n: 2, c: 3, h: 8, w: 8, o: 4, groups: 1, geometry: ConvGeometry(kernel: (3, 3), padding: (1, 1))),
      Problem(n: 1, c: 4, h: 5, w: 7, o: 6, groups: 2, geometry: ConvGeometry(kernel: (3, 3), padding: (1, 1))),
      Problem(n: 1, c: 2, h: 6, w: 6, o: 2, groups: 1, geometry: ConvGeometry(kernel: (5, 5), padding: (2, 2))),
      Problem(n: 1, c: 2, h: 3, w: 3, o: 2, groups: 1, geometry: ConvGeometry(kernel: (3, 3), padding: (4, 4))),
    ]
    while list.count < 40 {
      let groups = [1, 1, 2, 3][pick(0...3)]
      let kh = pick(1...4), kw = pick(1...4)
      let geometry = ConvGeometry(
        kernel: (kh, kw), stride: (pick(1...3), pick(1...3)),
        padding: (top: pick(0...2), bottom: pick(0...2), left: pick(0...2), right: pick(0...2)),
        dilation: (pick(1...2), pick(1...2)))
      let p = Problem(
        n: pick(1...2), c: groups * pick(1...3), h: pick(1...9), w: pick(1...9), o: groups * pick(1...3),
        groups: groups, geometry: geometry)
      if geometry.outputSize(h: p.h, w: p.w) != nil { list.append(p) }
    }
    return list
  }()

  /// Visits every (image, out channel, output pixel, in channel of the group, tap) that reads a
  /// pixel inside the image: `body(outIndex, inputIndex, weightIndex)`.
  static func forEachTap(_ p: Problem, _ body: (Int, Int, Int) -> Void) {
    let g = p.geometry
    let (oh, ow) = g.outputSize(h: p.h, w: p.w)!
    let cg = p.c / p.groups, og = p.o / p.groups
    for b in 0..<p.n {
      for oc in 0..<p.o {
        let group = oc / og
        for y in 0..<oh {
          for x in 0..<ow {
            for ci in 0..<cg {
              for i in 0..<g.kh {
                for j in 0..<g.kw {
                  let yy = y * g.strideH - g.padTop + i * g.dilationH
                  let xx = x * g.strideW - g.padLeft + j * g.dilationW
                  guard yy >= 0, yy < p.h, xx >= 0, xx < p.w else { continue }
                  let inC = group * cg + ci
                  body(
                    ((b * p.o + oc) * oh + y) * ow + x,
                    ((b * p.c + inC) * p.h + yy) * p.w + xx,
                    ((oc * cg + ci) * g.kh + i) * g.kw + j)
                }
              }
            }
          }
        }
      }
    }
  }

  static func random(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.randomNormal(shape, using: &g)
  }

  /// Largest absolute difference relative to the largest reference magnitude.
  static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    let scale = Swift.max(b.map(abs).max() ?? 0, 1e-6)
    return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
  }

  @Test(arguments: problems)
  func primitivesMatchNaiveLoops(_ p: Problem) {
    let (oh, ow) = p.geometry.outputSize(h: p.h, w: p.w)!
    let x = Self.random([p.n, p.c, p.h, p.w], seed: 1)
    let weight = Self.random([p.o, p.c / p.groups, p.geometry.kh, p.geometry.kw], seed: 2)
    let dy = Self.random([p.n, p.o, oh, ow], seed: 3)
    let xs = x.scalars, ws = weight.scalars, gs = dy.scalars
    var y = [Float](repeating: 0, count: dy.count)
    var dx = [Float](repeating: 0, count: x.count)
    var dw = [Float](repeating: 0, count: weight.count)
    Self.forEachTap(p) { o, i, k in
      y[o] += xs[i] * ws[k]
      dx[i] += gs[o] * ws[k]
      dw[k] += gs[o] * xs[i]
    }
    let forward = Tensor.conv2d(x, weight, geometry: p.geometry, groups: p.groups)
    let inputGradient = Tensor.convInputGradient(
      dy, weight, inputShape: x.shape, geometry: p.geometry, groups: p.groups)
    let weightGradient = Tensor.convWeightGradient(
      x, dy, weightShape: weight.shape, geometry: p.geometry, groups: p.groups)
    #expect(forward.shape == [p.n, p.o, oh, ow])
    #expect(Self.relativeError(forward.scalars, y) < 1e-5)
    #expect(Self.relativeError(inputGradient.scalars, dx) < 1e-5)
    #expect(Self.relativeError(weightGradient.scalars, dw) < 1e-5)
  }

  /// The benchmark's second layer (batch 2 here): 16 -> 32 channels, 3x3, padding 1, 32x32.
  @Test func benchmarkLayerMatchesNaiveLoops() {
    let p = Problem(n: 2, c: 16, h: 32, w: 32, o: 32, groups: 1, geometry: ConvGeometry(kernel: (3, 3), padding: (1, 1)))
    primitivesMatchNaiveLoops(p)
  }
}
