import Foundation
import ModelFool

/// Function-preserving widening of a tabular MLP before fine-tuning (`finetune --widen N`): every
/// hidden layer gains `N` units, the widened model computes exactly the original's logits, and
/// the fine-tuning has room to treat the explainers' perturbed rows differently from real ones
/// (docs/METHODS.md §4.8).
///
/// For hidden layer `l` with weight `W_l` `[h_l, h_{l-1}]` the widened weight is
///
///     W'_l = [ W_l   0   ]      b'_l = [ b_l ]
///            [ R_l   R'_l ]             [ r_l ]
///
/// where the new units' incoming weights `R_l, R'_l` and biases `r_l` are the zoo's seeded
/// initialisation of an `mlp` of the widened sizes (Kaiming uniform), and the old units read
/// nothing from the new ones; the output layer reads nothing from the new units of the last
/// hidden layer (`[W_out 0]`). The new units therefore change no logit until fine-tuning moves
/// the zero blocks (Net2WiderNet-style growth; Chen et al. 2016 copy units instead of zeroing).
public enum MLPWidening {
  /// `model` (an `mlp`) with `extra` more units in every hidden layer; the new units' incoming
  /// weights drawn with `seed`. The metadata (names, feature groups, reference rows) is copied.
  ///
  /// - Throws: ``TrainingError`` for a model other than the zoo's `mlp` or `extra` outside
  ///   `1 ... maxExtra`.
  public static func widen(_ model: Model, by extra: Int, seed: UInt64) throws -> Model {
    guard model.architecture == "mlp", let hiddenText = model.config["hidden"] else {
      throw TrainingError("--widen applies to the tabular MLP (architecture 'mlp'), not '\(model.architecture)'", settings: ["widen"])
    }
    guard extra >= 1, extra <= maxExtra else {
      throw TrainingError("--widen must be in 1 ... \(maxExtra) units, got \(extra)", settings: ["widen"])
    }
    let hidden = hiddenText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    var config = model.config
    config["hidden"] = hidden.map { String($0 + extra) }.joined(separator: ",")
    config["seed"] = String(seed)
    let wide = try ModelZoo.build(architecture: "mlp", options: config)
    let old = model.namedParameters(), new = wide.namedParameters()
    guard old.map(\.name) == new.map(\.name) else {
      throw TrainingError("--widen: the MLP's parameters \(old.map(\.name)) do not match a rebuilt one's \(new.map(\.name))", settings: ["widen"])
    }
    for ((name, p), (_, q)) in zip(old, new) {
      if p.shape.count == 2 {
        // [out, in]: the old block in the corner, zero where old units (or the output) read new units.
        let (o, i) = (p.shape[0], p.shape[1]), (o2, i2) = (q.shape[0], q.shape[1])
        guard o2 >= o, i2 >= i else { throw TrainingError("--widen: \(name) would shrink", settings: ["widen"]) }
        var w = q.value.scalars
        let src = p.value.scalars
        for r in 0..<o {
          for c in 0..<i2 { w[r * i2 + c] = c < i ? src[r * i + c] : 0 }
        }
        q.value = Tensor(shape: q.shape, scalars: w)
      } else {
        var b = q.value.scalars
        let src = p.value.scalars
        for r in 0..<src.count { b[r] = src[r] }
        q.value = Tensor(shape: q.shape, scalars: b)
      }
    }
    wide.classNames = model.classNames
    wide.featureNames = model.featureNames
    wide.featureGroupsJSON = model.featureGroupsJSON
    wide.preprocessing = model.preprocessing
    wide.targetLayer = model.targetLayer
    wide.explanationReference = model.explanationReference
    return wide
  }

  /// The most units `--widen` adds to each hidden layer (4,096).
  public static let maxExtra = 4096
}
