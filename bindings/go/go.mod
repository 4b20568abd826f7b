module linstor-db/bindings/go/linstordb

go 1.24
