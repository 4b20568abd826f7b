module linstor-db/examples/go

go 1.24

require linstor-db/bindings/go/linstordb v0.0.0

replace linstor-db/bindings/go/linstordb => ../../bindings/go
