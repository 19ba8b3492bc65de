// @generated from schema/codertemplate.yaml, schema/coderworkspace.yaml, schema/codercontrolplane.yaml, schema/coderprovisioner.yaml, schema/coderworkspaceproxy.yaml by build.rs; do not edit.
// Regenerate with hack/update-codegen.sh.

pub mod aggregation {
    pub mod v1alpha1 {
        include!("codertemplate.rs");
        include!("coderworkspace.rs");
    }
}
pub mod coder {
    pub mod v1alpha1 {
        include!("codercontrolplane.rs");
        include!("coderprovisioner.rs");
        include!("coderworkspaceproxy.rs");
    }
}
/// Every kind declared in schema/, sorted by group, version and kind.
pub static RESOURCES: &[crate::api::registry::ResourceDescriptor] = &[
    crate::api::registry::ResourceDescriptor {
        group: "aggregation.coder.com",
        version: "v1alpha1",
        kind: "CoderTemplate",
        list_kind: "CoderTemplateList",
        plural: "codertemplates",
        singular: "codertemplate",
        short_names: &["ctpl"],
        categories: &["coder"],
        namespaced: true,
        served_by: crate::api::registry::ServedBy::AggregatedApiserver,
        status_subresource: true,
        printer_columns: &[
            crate::api::registry::PrinterColumn {
                name: "Organization",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.organizationName",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "ActiveVersion",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.activeVersionID",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Deprecated",
                type_: "boolean",
                format: None,
                description: None,
                json_path: ".status.deprecated",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Updated",
                type_: "string",
                format: Some("date-time"),
                description: None,
                json_path: ".status.updatedAt",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "AutoShutdown",
                type_: "string",
                format: Some("date-time"),
                description: None,
                json_path: ".status.autoShutdown",
                priority: 1i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Age",
                type_: "date",
                format: None,
                description: None,
                json_path: ".metadata.creationTimestamp",
                priority: 0i32,
            },
        ],
        openapi_definition: "com.coder.aggregation.v1alpha1.CoderTemplate",
        list_openapi_definition: "com.coder.aggregation.v1alpha1.CoderTemplateList",
        schema_file: "schema/codertemplate.yaml",
        merge: Some(
            &crate::api::registry::MergeType::Struct(
                &[
                    ("apiVersion", crate::api::registry::MergeType::Scalar),
                    ("kind", crate::api::registry::MergeType::Scalar),
                    (
                        "metadata",
                        crate::api::registry::MergeType::Struct(
                            &[
                                (
                                    "annotations",
                                    crate::api::registry::MergeType::Map(
                                        &crate::api::registry::MergeType::Scalar,
                                    ),
                                ),
                                (
                                    "creationTimestamp",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "deletionGracePeriodSeconds",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "deletionTimestamp",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "finalizers",
                                    crate::api::registry::MergeType::Set(
                                        &crate::api::registry::MergeType::Scalar,
                                    ),
                                ),
                                ("generateName", crate::api::registry::MergeType::Scalar),
                                ("generation", crate::api::registry::MergeType::Scalar),
                                (
                                    "labels",
                                    crate::api::registry::MergeType::Map(
                                        &crate::api::registry::MergeType::Scalar,
                                    ),
                                ),
                                ("managedFields", crate::api::registry::MergeType::Atomic),
                                ("name", crate::api::registry::MergeType::Scalar),
                                ("namespace", crate::api::registry::MergeType::Scalar),
                                (
                                    "ownerReferences",
                                    crate::api::registry::MergeType::ListMap(
                                        &crate::api::registry::MergeType::Atomic,
                                        &["uid"],
                                    ),
                                ),
                                (
                                    "resourceVersion",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                ("selfLink", crate::api::registry::MergeType::Scalar),
                                ("uid", crate::api::registry::MergeType::Scalar),
                            ],
                        ),
                    ),
                    (
                        "spec",
                        crate::api::registry::MergeType::Struct(
                            &[
                                ("description", crate::api::registry::MergeType::Scalar),
                                ("displayName", crate::api::registry::MergeType::Scalar),
                                (
                                    "files",
                                    crate::api::registry::MergeType::Map(
                                        &crate::api::registry::MergeType::Scalar,
                                    ),
                                ),
                                ("icon", crate::api::registry::MergeType::Scalar),
                                ("organization", crate::api::registry::MergeType::Scalar),
                                ("running", crate::api::registry::MergeType::Scalar),
                                ("versionID", crate::api::registry::MergeType::Scalar),
                            ],
                        ),
                    ),
                    (
                        "status",
                        crate::api::registry::MergeType::Struct(
                            &[
                                (
                                    "activeVersionID",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                ("autoShutdown", crate::api::registry::MergeType::Scalar),
                                (
                                    "conditions",
                                    crate::api::registry::MergeType::ListMap(
                                        &crate::api::registry::MergeType::Struct(
                                            &[
                                                (
                                                    "lastTransitionTime",
                                                    crate::api::registry::MergeType::Scalar,
                                                ),
                                                ("message", crate::api::registry::MergeType::Scalar),
                                                (
                                                    "observedGeneration",
                                                    crate::api::registry::MergeType::Scalar,
                                                ),
                                                ("reason", crate::api::registry::MergeType::Scalar),
                                                ("status", crate::api::registry::MergeType::Scalar),
                                                ("type", crate::api::registry::MergeType::Scalar),
                                            ],
                                        ),
                                        &["type"],
                                    ),
                                ),
                                ("deprecated", crate::api::registry::MergeType::Scalar),
                                ("id", crate::api::registry::MergeType::Scalar),
                                (
                                    "observedGeneration",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "organizationName",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                ("updatedAt", crate::api::registry::MergeType::Scalar),
                            ],
                        ),
                    ),
                ],
            ),
        ),
    },
    crate::api::registry::ResourceDescriptor {
        group: "aggregation.coder.com",
        version: "v1alpha1",
        kind: "CoderWorkspace",
        list_kind: "CoderWorkspaceList",
        plural: "coderworkspaces",
        singular: "coderworkspace",
        short_names: &["cws"],
        categories: &["coder"],
        namespaced: true,
        served_by: crate::api::registry::ServedBy::AggregatedApiserver,
        status_subresource: true,
        printer_columns: &[
            crate::api::registry::PrinterColumn {
                name: "Owner",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.ownerName",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Template",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.templateName",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Running",
                type_: "boolean",
                format: None,
                description: None,
                json_path: ".spec.running",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Status",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.latestBuildStatus",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "LastUsed",
                type_: "string",
                format: Some("date-time"),
                description: None,
                json_path: ".status.lastUsedAt",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "AutoShutdown",
                type_: "string",
                format: Some("date-time"),
                description: None,
                json_path: ".status.autoShutdown",
                priority: 1i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Age",
                type_: "date",
                format: None,
                description: None,
                json_path: ".metadata.creationTimestamp",
                priority: 0i32,
            },
        ],
        openapi_definition: "com.coder.aggregation.v1alpha1.CoderWorkspace",
        list_openapi_definition: "com.coder.aggregation.v1alpha1.CoderWorkspaceList",
        schema_file: "schema/coderworkspace.yaml",
        merge: Some(
            &crate::api::registry::MergeType::Struct(
                &[
                    ("apiVersion", crate::api::registry::MergeType::Scalar),
                    ("kind", crate::api::registry::MergeType::Scalar),
                    (
                        "metadata",
                        crate::api::registry::MergeType::Struct(
                            &[
                                (
                                    "annotations",
                                    crate::api::registry::MergeType::Map(
                                        &crate::api::registry::MergeType::Scalar,
                                    ),
                                ),
                                (
                                    "creationTimestamp",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "deletionGracePeriodSeconds",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "deletionTimestamp",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "finalizers",
                                    crate::api::registry::MergeType::Set(
                                        &crate::api::registry::MergeType::Scalar,
                                    ),
                                ),
                                ("generateName", crate::api::registry::MergeType::Scalar),
                                ("generation", crate::api::registry::MergeType::Scalar),
                                (
                                    "labels",
                                    crate::api::registry::MergeType::Map(
                                        &crate::api::registry::MergeType::Scalar,
                                    ),
                                ),
                                ("managedFields", crate::api::registry::MergeType::Atomic),
                                ("name", crate::api::registry::MergeType::Scalar),
                                ("namespace", crate::api::registry::MergeType::Scalar),
                                (
                                    "ownerReferences",
                                    crate::api::registry::MergeType::ListMap(
                                        &crate::api::registry::MergeType::Atomic,
                                        &["uid"],
                                    ),
                                ),
                                (
                                    "resourceVersion",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                ("selfLink", crate::api::registry::MergeType::Scalar),
                                ("uid", crate::api::registry::MergeType::Scalar),
                            ],
                        ),
                    ),
                    (
                        "spec",
                        crate::api::registry::MergeType::Struct(
                            &[
                                (
                                    "autostartSchedule",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                ("organization", crate::api::registry::MergeType::Scalar),
                                ("running", crate::api::registry::MergeType::Scalar),
                                ("templateName", crate::api::registry::MergeType::Scalar),
                                (
                                    "templateVersionID",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                ("ttlMillis", crate::api::registry::MergeType::Scalar),
                            ],
                        ),
                    ),
                    (
                        "status",
                        crate::api::registry::MergeType::Struct(
                            &[
                                ("autoShutdown", crate::api::registry::MergeType::Scalar),
                                (
                                    "conditions",
                                    crate::api::registry::MergeType::ListMap(
                                        &crate::api::registry::MergeType::Struct(
                                            &[
                                                (
                                                    "lastTransitionTime",
                                                    crate::api::registry::MergeType::Scalar,
                                                ),
                                                ("message", crate::api::registry::MergeType::Scalar),
                                                (
                                                    "observedGeneration",
                                                    crate::api::registry::MergeType::Scalar,
                                                ),
                                                ("reason", crate::api::registry::MergeType::Scalar),
                                                ("status", crate::api::registry::MergeType::Scalar),
                                                ("type", crate::api::registry::MergeType::Scalar),
                                            ],
                                        ),
                                        &["type"],
                                    ),
                                ),
                                ("id", crate::api::registry::MergeType::Scalar),
                                ("lastUsedAt", crate::api::registry::MergeType::Scalar),
                                ("latestBuildID", crate::api::registry::MergeType::Scalar),
                                (
                                    "latestBuildStatus",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "observedGeneration",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                (
                                    "organizationName",
                                    crate::api::registry::MergeType::Scalar,
                                ),
                                ("ownerName", crate::api::registry::MergeType::Scalar),
                                ("templateName", crate::api::registry::MergeType::Scalar),
                            ],
                        ),
                    ),
                ],
            ),
        ),
    },
    crate::api::registry::ResourceDescriptor {
        group: "coder.com",
        version: "v1alpha1",
        kind: "CoderControlPlane",
        list_kind: "CoderControlPlaneList",
        plural: "codercontrolplanes",
        singular: "codercontrolplane",
        short_names: &["ccp"],
        categories: &["coder"],
        namespaced: true,
        served_by: crate::api::registry::ServedBy::Crd,
        status_subresource: true,
        printer_columns: &[
            crate::api::registry::PrinterColumn {
                name: "Phase",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.phase",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Ready",
                type_: "integer",
                format: None,
                description: None,
                json_path: ".status.readyReplicas",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "URL",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.url",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Age",
                type_: "date",
                format: None,
                description: None,
                json_path: ".metadata.creationTimestamp",
                priority: 0i32,
            },
        ],
        openapi_definition: "com.coder.v1alpha1.CoderControlPlane",
        list_openapi_definition: "com.coder.v1alpha1.CoderControlPlaneList",
        schema_file: "schema/codercontrolplane.yaml",
        merge: None,
    },
    crate::api::registry::ResourceDescriptor {
        group: "coder.com",
        version: "v1alpha1",
        kind: "CoderProvisioner",
        list_kind: "CoderProvisionerList",
        plural: "coderprovisioners",
        singular: "coderprovisioner",
        short_names: &["cprov"],
        categories: &["coder"],
        namespaced: true,
        served_by: crate::api::registry::ServedBy::Crd,
        status_subresource: true,
        printer_columns: &[
            crate::api::registry::PrinterColumn {
                name: "Phase",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.phase",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Replicas",
                type_: "integer",
                format: None,
                description: None,
                json_path: ".status.readyReplicas",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Key",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.provisionerKeyName",
                priority: 1i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Age",
                type_: "date",
                format: None,
                description: None,
                json_path: ".metadata.creationTimestamp",
                priority: 0i32,
            },
        ],
        openapi_definition: "com.coder.v1alpha1.CoderProvisioner",
        list_openapi_definition: "com.coder.v1alpha1.CoderProvisionerList",
        schema_file: "schema/coderprovisioner.yaml",
        merge: None,
    },
    crate::api::registry::ResourceDescriptor {
        group: "coder.com",
        version: "v1alpha1",
        kind: "CoderWorkspaceProxy",
        list_kind: "CoderWorkspaceProxyList",
        plural: "coderworkspaceproxies",
        singular: "coderworkspaceproxy",
        short_names: &["cwp"],
        categories: &["coder"],
        namespaced: true,
        served_by: crate::api::registry::ServedBy::Crd,
        status_subresource: true,
        printer_columns: &[
            crate::api::registry::PrinterColumn {
                name: "Phase",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.phase",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Registered",
                type_: "boolean",
                format: None,
                description: None,
                json_path: ".status.registered",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Ready",
                type_: "integer",
                format: None,
                description: None,
                json_path: ".status.readyReplicas",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Proxy",
                type_: "string",
                format: None,
                description: None,
                json_path: ".status.proxyName",
                priority: 0i32,
            },
            crate::api::registry::PrinterColumn {
                name: "Age",
                type_: "date",
                format: None,
                description: None,
                json_path: ".metadata.creationTimestamp",
                priority: 0i32,
            },
        ],
        openapi_definition: "com.coder.v1alpha1.CoderWorkspaceProxy",
        list_openapi_definition: "com.coder.v1alpha1.CoderWorkspaceProxyList",
        schema_file: "schema/coderworkspaceproxy.yaml",
        merge: None,
    },
];
/// Swagger 2.0 document of the aggregated kinds (served at /openapi/v2).
pub const OPENAPI_V2: &str = include_str!("../openapi/v2.json");
/// OpenAPI v3 documents of the aggregated group-versions, keyed like /openapi/v3 paths.
pub static OPENAPI_V3: &[(&str, &str)] = &[
    (
        "apis/aggregation.coder.com/v1alpha1",
        include_str!("../openapi/v3/aggregation.coder.com_v1alpha1.json"),
    ),
];
/// CRD manifests (YAML) of the kinds installed as CRDs, keyed by CRD name.
pub static CRDS: &[(&str, &str)] = &[
    (
        "codercontrolplanes.coder.com",
        include_str!("../crds/coder.com_codercontrolplanes.yaml"),
    ),
    (
        "coderprovisioners.coder.com",
        include_str!("../crds/coder.com_coderprovisioners.yaml"),
    ),
    (
        "coderworkspaceproxies.coder.com",
        include_str!("../crds/coder.com_coderworkspaceproxies.yaml"),
    ),
];
