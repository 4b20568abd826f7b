module github.com/linstor-db/linstor-db/examples/go

go 1.24

require github.com/linstor-db/linstor-db/bindings/go v0.0.0

replace github.com/linstor-db/linstor-db/bindings/go => ../../bindings/go
