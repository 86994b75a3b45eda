print("mikata-torture: not yet")
