module example.com/go127labels

go 1.27
