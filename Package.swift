// swift-tools-version:6.1
import PackageDescription

// Every target: Swift 6 language mode, warnings as errors, and the upcoming features STYLE.md asks for.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .unsafeFlags(["-warnings-as-errors"]),
]

let package = Package(
    name: "MikataVault",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mikata", targets: ["mikata"]),
        .library(name: "MikataService", targets: ["MikataService"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // Layer 0: libsodium, found through pkg-config (apt: libsodium-dev).
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // Layer 1: the only code that touches libsodium and its pointers.
        .target(name: "MikataCrypto", dependencies: ["CSodium"], swiftSettings: strict),
        // Layer 2: vault format v1, bytes <-> values, no I/O (docs/FORMAT.md).
        .target(name: "MikataFormat", dependencies: ["MikataCrypto"], swiftSettings: strict),
        // Layer 2b: the medication-adherence domain (issue 10): typed records, validation, reports. Pure, no I/O.
        .target(name: "MikataAdherence", swiftSettings: strict),
        // Layer 3: vaults on disk, the store, locking and durability.
        .target(name: "MikataVault", dependencies: ["MikataCrypto", "MikataFormat"], swiftSettings: strict),
        // Layer 4: the public, Sendable, async service layer every client uses (the CLI, the HTTP service).
        .target(
            name: "MikataService",
            dependencies: [
                "MikataVault", "MikataFormat", "MikataCrypto", "MikataAdherence",
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Layer 5a: the HTTP service (`mikata serve`, docs/openapi.yaml): routes call MikataService and nothing else.
        .target(
            name: "MikataServer",
            dependencies: [
                "MikataService", "MikataAdherence", "MikataFormat",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // Layer 5b: the thin command line.
        .executableTarget(
            name: "mikata",
            dependencies: [
                "MikataService", "MikataAdherence",
                "MikataServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // `make bench`: figures against the physical limits measured in the same run.
        .executableTarget(
            name: "MikataBench",
            dependencies: ["MikataVault", "MikataFormat", "MikataCrypto", "MikataService", "MikataAdherence"],
            swiftSettings: strict
        ),
        // Test-only: random operations on a store, killed at random moments; `make torture` (docs/RELIABILITY.md).
        .executableTarget(
            name: "mikata-torture",
            dependencies: ["MikataVault", "MikataFormat", "MikataCrypto"],
            path: "Sources/MikataTorture",
            swiftSettings: strict
        ),
        .testTarget(name: "MikataCryptoTests", dependencies: ["MikataCrypto"], swiftSettings: strict),
        .testTarget(name: "MikataAdherenceTests", dependencies: ["MikataAdherence"], swiftSettings: strict),
        .testTarget(name: "MikataFormatTests", dependencies: ["MikataFormat", "MikataCrypto"], swiftSettings: strict),
        .testTarget(
            name: "MikataVaultTests",
            dependencies: [
                "MikataVault", "MikataFormat", "MikataCrypto",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MikataServiceTests",
            dependencies: ["MikataService", "MikataVault", "MikataCrypto", "MikataFormat", "MikataAdherence"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MikataServerTests",
            dependencies: [
                "MikataServer", "MikataService", "MikataAdherence", "MikataVault",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "MikataCLITests", dependencies: ["mikata", "mikata-torture"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
