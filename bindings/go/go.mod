module github.com/linstor-db/linstor-db/bindings/go

go 1.24
