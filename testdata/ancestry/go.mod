module example.com/ancestry

go 1.26
