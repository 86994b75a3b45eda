// swift-tools-version:6.1
// The "Getting started" article's code (Sources/MikataService/MikataService.docc/GettingStarted.md), as a package of
// its own that uses nothing but MikataVault's public API. `make test` builds and runs it.
import PackageDescription

let package = Package(
    name: "GettingStarted",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "MikataVault", path: "../..")],
    targets: [
        .executableTarget(
            name: "GettingStarted",
            dependencies: [.product(name: "MikataService", package: "MikataVault")],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
