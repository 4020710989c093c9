/// The release of ModelFool and the git commit it was built from, for `--version`, checkpoints and
/// reports.
///
/// The release is set here by hand at each release; the commit is written at build time by the
/// `GitCommitPlugin` build-tool plugin (`git rev-parse --short HEAD` of the package folder, or
/// `unknown` for a build outside a git checkout, e.g. from a source tarball).
public enum ModelFoolVersion {
  /// The release, semantic versioning ("0.4.0").
  public static let release = "0.4.0"

  /// The abbreviated commit hash of the build ("3fa2c1d"), or "unknown".
  public static let commit: String = gitCommit

  /// "0.4.0 (commit 3fa2c1d)": what `modelfool --version` prints and reports record.
  public static var description: String { "\(release) (commit \(commit))" }
}
